"""A fake Duplicati server of either generation, written from
docs/duplicati-rest-api.md: a real HTTP(S) server on 127.0.0.1 that logs in the way
each generation does and serves backups, schedules and job-log pages.

* `generation="2.1"`: JSON login at /api/v1/auth/login → bearer token; 401 without one.
* `generation="legacy"`: an `xsrf-token` cookie on every answer, `X-XSRF-Token` required on
  /api/ (400 "Missing XSRF Token"), salted-hash login at /login.cgi → `session-auth` cookie.

Log pages follow Duplicati: newest first, `offset` an exclusive upper bound on ID, page size
clamped to 10…500. `expire_sessions()` forgets every token (as after 15 minutes), and
`hang.set()` makes every request wait until the test ends (a server that hangs).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import ssl
import threading
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from duplistatus.collect.client import DEFAULT_PORT  # noqa: F401  (documented default)


@dataclass
class FakeBackup:
    id: str
    name: str
    schedule: dict[str, Any] | None = None
    log: list[dict[str, Any]] = field(default_factory=list)  # LogData rows, any order

    def add_result(self, message: str, timestamp: int, *, row_type: str = "Result") -> None:
        row_id = max((row["ID"] for row in self.log), default=0) + 1
        self.log.append(
            {
                "ID": row_id,
                "OperationID": row_id,
                "Timestamp": timestamp,
                "Type": row_type,
                "Message": message,
                "Exception": None,
            }
        )


class FakeDuplicati:
    def __init__(
        self,
        *,
        generation: str = "2.1",
        password: str = "duplicati password",
        machine_id: str = "fake-machine-id",
        machine_name: str = "fakehost",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        assert generation in ("2.1", "legacy")
        self.generation = generation
        self.password = password
        self.machine_id = machine_id
        self.machine_name = machine_name
        self.tls = tls
        self.backups: list[FakeBackup] = []
        self.tokens: set[str] = set()
        self.xsrf_tokens: set[str] = set()
        self.nonces: dict[str, str] = {}  # session-nonce → nonce (base64)
        self.salt = base64.b64encode(secrets.token_bytes(16)).decode()
        self.logins = 0
        self.requests: list[tuple[str, str]] = []  # (method, path)
        self.hang = threading.Event()
        # Answer log pages a few bytes at a time, forever (a server that trickles).
        self.trickle = threading.Event()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ control

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    @property
    def address(self) -> str:
        """What a user would type: host:port, no scheme."""
        return f"127.0.0.1:{self.port}"

    def add_backup(self, id: str, name: str, schedule: dict[str, Any] | None = None) -> FakeBackup:
        backup = FakeBackup(id, name, schedule)
        self.backups.append(backup)
        return backup

    def expire_sessions(self) -> None:
        self.tokens.clear()

    def start(self) -> FakeDuplicati:
        fake = self

        class Handler(_Handler):
            server_state = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def schedule_dto(
    backup_id: str, repeat: str, next_run: datetime, allowed_days: list[str] | None = None
) -> dict[str, Any]:
    days = allowed_days or []
    return {
        "ID": int(backup_id),
        "Tags": [f"ID={backup_id}"],
        "Time": next_run.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "Repeat": repeat,
        "LastRun": "0001-01-01T00:00:00Z",
        "Rule": "AllowedWeekDays=" + ",".join(days) if days else "",
        "AllowedDays": days,
    }


class _Handler(BaseHTTPRequestHandler):
    server_state: FakeDuplicati
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # ------------------------------------------------------------------ plumbing

    def _send(
        self,
        status: int,
        body: Any = b"",
        *,
        content_type: str = "application/json",
        cookies: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (cookies or {}).items():
            self.send_header("Set-Cookie", f"{name}={value}; path=/")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _cookies(self) -> dict[str, str]:
        jar = SimpleCookie(self.headers.get("Cookie") or "")
        return {name: morsel.value for name, morsel in jar.items()}

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        fake = self.server_state
        url = urllib.parse.urlsplit(self.path)
        fake.requests.append((method, url.path))
        if fake.hang.is_set():
            fake._release.wait(30)
            return
        body = self._body() if method == "POST" else b""
        if fake.generation == "2.1":
            self._core(method, url, body)
        else:
            self._legacy(method, url, body)

    # ------------------------------------------------------------------ 2.1+

    def _core(self, method: str, url: urllib.parse.SplitResult, body: bytes) -> None:
        fake = self.server_state
        if method == "POST" and url.path == "/api/v1/auth/login":
            try:
                password = json.loads(body)["Password"]
            except (ValueError, KeyError, TypeError):
                return self._send(400, {"Error": "Bad request", "Code": 400})
            fake.logins += 1
            if password != fake.password:
                return self._send(401, {"Error": "Failed to log in", "Code": 401})
            token = secrets.token_urlsafe(24)
            fake.tokens.add(token)
            return self._send(200, {"AccessToken": token, "RefreshNonce": "n"})
        if not url.path.startswith("/api/"):
            return self._send(200, b"<html>Duplicati</html>", content_type="text/html")
        auth = self.headers.get("Authorization") or ""
        if not auth.startswith("Bearer ") or auth[7:] not in fake.tokens:
            return self._send(401, {"Error": "Unauthorized", "Code": 401})
        self._api(url, legacy=False)

    # ------------------------------------------------------------------ legacy

    def _legacy(self, method: str, url: urllib.parse.SplitResult, body: bytes) -> None:
        fake = self.server_state
        cookies = self._cookies()
        set_cookies: dict[str, str] = {}
        xsrf = urllib.parse.unquote(cookies.get("xsrf-token", ""))
        if xsrf not in fake.xsrf_tokens:
            new = base64.b64encode(secrets.token_bytes(32)).decode()
            fake.xsrf_tokens.add(new)
            set_cookies["xsrf-token"] = urllib.parse.quote(new, safe="")
        logged_in = not fake.password or cookies.get("session-auth", "") in fake.tokens

        if url.path == "/login.cgi" and method == "POST":
            if self.headers.get("X-XSRF-Token") not in fake.xsrf_tokens:
                return self._send(400, b"Missing XSRF Token. Please reload the page")
            form = dict(urllib.parse.parse_qsl(body.decode()))
            if form.get("get-nonce") == "1":
                nonce = base64.b64encode(secrets.token_bytes(32)).decode()
                session = secrets.token_urlsafe(16)
                fake.nonces[session] = nonce
                set_cookies["session-nonce"] = session
                return self._send(
                    200, {"Status": "OK", "Nonce": nonce, "Salt": fake.salt}, cookies=set_cookies
                )
            fake.logins += 1
            nonce = fake.nonces.pop(cookies.get("session-nonce", ""), "")
            salted = hashlib.sha256(fake.password.encode() + base64.b64decode(fake.salt)).digest()
            expected = (
                base64.b64encode(hashlib.sha256(base64.b64decode(nonce) + salted).digest()).decode()
                if nonce
                else None
            )
            if form.get("password") != expected:
                return self._send(401, b"Unauthorized", content_type="text/plain")
            token = secrets.token_urlsafe(24)
            fake.tokens.add(token)
            set_cookies["session-auth"] = token
            return self._send(200, {"Status": "OK"}, cookies=set_cookies)

        if not url.path.startswith("/api/"):
            if not logged_in:
                return self._send(
                    302, b"", cookies=set_cookies, headers={"Location": "/login.html"}
                )
            return self._send(
                200, b"<html>Duplicati</html>", content_type="text/html", cookies=set_cookies
            )
        if self.headers.get("X-XSRF-Token") not in fake.xsrf_tokens:
            return self._send(
                400,
                b"Missing XSRF Token. Please reload the page",
                content_type="text/plain",
                cookies=set_cookies,
            )
        if not logged_in:
            return self._send(401, b"Not logged in", content_type="text/plain")
        self._api(url, legacy=True)

    # ------------------------------------------------------------------ data endpoints

    def _api(self, url: urllib.parse.SplitResult, *, legacy: bool) -> None:
        fake = self.server_state
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/api/v1/systeminfo":
            return self._send(
                200,
                {
                    "APIVersion": 1,
                    "ServerVersion": "2.0.8.1" if legacy else "2.1.0.5",
                    "MachineName": fake.machine_name,
                    "OSType": "Linux",
                    "Options": [
                        {"Name": "machine-id", "DefaultValue": fake.machine_id},
                        {"Name": "backup-name", "DefaultValue": ""},
                    ],
                },
            )
        if url.path == "/api/v1/backups":
            listed = []
            for backup in fake.backups:
                dto = {
                    "ID": backup.id,
                    "Name": backup.name,
                    "TargetURL": "s3://secret-key@bucket",  # sensitive: must not be kept
                    "Metadata": {},
                }
                if legacy:
                    listed.append(
                        {
                            "IsUnencryptedOrPassphraseStored": False,
                            "Backup": dto,
                            "Schedule": backup.schedule,
                        }
                    )
                else:
                    dto["IsUnencryptedOrPassphraseStored"] = False
                    listed.append({"Backup": dto, "Schedule": backup.schedule})
            return self._send(200, listed)
        parts = url.path.split("/")
        if len(parts) == 6 and parts[1:4] == ["api", "v1", "backup"] and parts[5] == "log":
            backup = next((b for b in fake.backups if b.id == parts[4]), None)
            if backup is None:
                return self._send(404, {"Error": "Not found", "Code": 404})
            size = max(10, min(500, int(query.get("pagesize") or 100)))
            if fake.trickle.is_set():
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"[")
                while not fake._release.wait(0.05):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                return None
            rows = sorted(backup.log, key=lambda row: row["ID"], reverse=True)
            if "offset" in query:
                rows = [row for row in rows if row["ID"] < int(query["offset"])]
            return self._send(200, rows[:size])
        self._send(404, {"Error": "Not found", "Code": 404})
