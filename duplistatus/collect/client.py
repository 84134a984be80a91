"""Talk to a Duplicati server's REST API: both server generations, TLS with pinning.

See docs/duplicati-rest-api.md. Two generations answer the same data endpoints
with different logins:

* WebserverCore (Duplicati ≥ 2.1): `POST /api/v1/auth/login` with JSON → a bearer token that
  lives 15 minutes; on a 401 we log in again once.
* the legacy server (≤ 2.0.8.1): every `/api/` call carries the `xsrf-token` cookie's value in
  `X-XSRF-Token`; with a password, a salted-hash login at `/login.cgi` sets `session-auth`.

The generation is found by trying the JSON login: a legacy server refuses it (400 "Missing
XSRF Token", or 404). Without a scheme the address is tried as https first, then http, but
only when the port does not speak TLS or does not answer: a certificate we cannot verify is
an error the user must act on (trust it explicitly), never a reason to fall back to clear
text. Once trusted, only the certificate with the pinned SHA-256 fingerprint is accepted: it
becomes the connection's only trust anchor, so a different one fails the TLS handshake before
the password is sent.

Every failure is a `CollectError` whose `code` says what kind it is and whose message says it
in words; neither ever contains the password.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

DEFAULT_PORT = 8200
# Duplicati clamps log pages to 10…500 entries.
MAX_PAGE_SIZE = 500
# A log page of 500 results with their 20 messages each is a few MB; this bounds a hostile
# or broken server.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
if TYPE_CHECKING:
    import httpx  # imported where used: at import time it cost every start of `serve`

DEFAULT_TIMEOUT_SECONDS = 10.0  # to connect, to send, to wait for a pooled connection
DEFAULT_READ_TIMEOUT_SECONDS = 60.0  # between two pieces of an answer
# The read timeout is per chunk: a server trickling bytes would never hit it. This bounds a
# whole request.
REQUEST_DEADLINE_SECONDS = 300.0
USER_AGENT = "duplistatus-collector"


@dataclass(frozen=True)
class Answer:
    """A response, its body read (and bounded)."""

    status_code: int
    content: bytes
    path: str


class CollectError(Exception):
    """Why talking to a Duplicati server failed, for the user: `code` is one of

    wrong_password, unreachable, timeout, certificate_untrusted, certificate_changed,
    not_duplicati, server_error, bad_address.
    """

    def __init__(self, code: str, message: str, *, fingerprint: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        # The certificate the server presented, for certificate_untrusted/changed.
        self.fingerprint = fingerprint


@dataclass(frozen=True)
class Certificate:
    der: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.der).hexdigest()

    @property
    def pem(self) -> str:
        return ssl.DER_cert_to_PEM_cert(self.der)


def format_fingerprint(sha256_hex: str) -> str:
    """`AB:CD:…`, as browsers show a certificate's SHA-256 fingerprint."""
    text = sha256_hex.upper()
    return ":".join(text[i : i + 2] for i in range(0, len(text), 2))


def normalize_fingerprint(text: str) -> str:
    return "".join(c for c in text.lower() if c in "0123456789abcdef")


def candidate_urls(address: str) -> list[str]:
    """The base URLs to try for what the user typed: `host`, `host:port` or a URL."""
    import httpx

    text = address.strip().rstrip("/")
    if not text:
        raise CollectError("bad_address", "Enter the Duplicati server's address.")
    has_scheme = "://" in text
    parts = urllib.parse.urlsplit(text if has_scheme else "//" + text)
    if has_scheme and parts.scheme not in ("http", "https"):
        raise CollectError("bad_address", "The address must start with http:// or https://.")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise CollectError("bad_address", "The port in the address is not a number.") from None
    if not host or parts.username or parts.password or parts.query or parts.fragment:
        raise CollectError("bad_address", "Give the address as host, host:port or a URL.")
    netloc = f"[{host}]" if ":" in host else host
    netloc += f":{port or DEFAULT_PORT}"
    path = parts.path.rstrip("/")
    schemes = [parts.scheme] if has_scheme else ["https", "http"]
    urls = [f"{scheme}://{netloc}{path}" for scheme in schemes]
    try:
        for url in urls:
            httpx.URL(url)  # what httpx cannot encode (e.g. a host name no IDNA allows)
    except httpx.InvalidURL:
        raise CollectError("bad_address", "The address is not a valid host name or URL.") from None
    return urls


def fetch_certificate(base_url: str, timeout: float = 10.0) -> Certificate:
    """The certificate a server presents, without trusting it (to show its fingerprint)."""
    parts = urllib.parse.urlsplit(base_url)
    host = parts.hostname or ""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, parts.port or 443), timeout=timeout) as sock:
            with context.wrap_socket(sock, server_hostname=host) as tls:
                der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as exc:
        raise CollectError(
            "unreachable", f"Could not read the server's certificate: {exc}"
        ) from None
    if not der:
        raise CollectError("unreachable", "The server presented no certificate.")
    return Certificate(der)


def _pinned_context(pem: str) -> ssl.SSLContext:
    """Trust exactly this certificate: it is the only trust anchor (a partial chain is
    allowed, so a leaf issued by a private CA can be pinned too), and the name is not
    checked, as the user trusted this certificate for this address."""
    context = ssl.create_default_context(cadata=pem)
    context.check_hostname = False
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    # Self-signed certificates (Duplicati makes its own) often lack what strict mode wants.
    context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    return context


def _is_verify_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        if "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class DuplicatiClient:
    """One session with one Duplicati server. Use as a context manager; `connect()` first.

    `pinned_pem`: the certificate the user trusted (its fingerprint is what we show);
    `ca_file`: extra CAs to trust (tests, private CAs), besides the system's.
    """

    def __init__(
        self,
        address: str,
        password: str,
        *,
        pinned_pem: str = "",
        timeout: float | None = None,  # every phase; None: the defaults above
        ca_file: str | None = None,
        deadline: float = REQUEST_DEADLINE_SECONDS,
    ) -> None:
        self.address = address
        self.deadline = deadline
        self._password = password
        self.pinned_pem = pinned_pem
        self.timeout = timeout
        self.ca_file = ca_file
        self.base_url = ""
        self.generation = ""  # "2.1+" or "legacy"
        self._token = ""
        self._http: httpx.Client | None = None

    def __repr__(self) -> str:  # never the password
        return f"DuplicatiClient({self.base_url or self.address!r}, {self.generation or '?'})"

    def __enter__(self) -> DuplicatiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    # ------------------------------------------------------------------ connecting

    def _verify(self) -> ssl.SSLContext | bool:
        if self.pinned_pem:
            return _pinned_context(self.pinned_pem)
        context = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else True
        return context

    def connect(self) -> None:
        """Find the scheme and generation, and log in. Raises CollectError."""
        import httpx

        urls = candidate_urls(self.address)
        if self.pinned_pem:
            # A pinned certificate means TLS, always: never try the address in clear text.
            urls = [u for u in urls if u.startswith("https://")] or urls
        last: CollectError | None = None
        for url in urls:
            self.close()
            self.base_url = url
            self._http = httpx.Client(
                base_url=url,
                verify=self._verify() if url.startswith("https://") else True,
                timeout=httpx.Timeout(self.timeout)
                if self.timeout is not None
                else httpx.Timeout(DEFAULT_TIMEOUT_SECONDS, read=DEFAULT_READ_TIMEOUT_SECONDS),
                headers={"User-Agent": USER_AGENT},
                follow_redirects=False,
            )
            try:
                self._login()
                return
            except CollectError as exc:
                last = exc
                # Only a port that is closed or speaks no TLS may be tried again as http.
                if exc.code not in ("unreachable", "not_duplicati") or not url.startswith(
                    "https://"
                ):
                    raise
        assert last is not None
        raise last

    def _login(self) -> None:
        response = self._send("POST", "/api/v1/auth/login", json=self._login_body())
        if response.status_code == 200:
            token = self._json(response).get("AccessToken")
            if not isinstance(token, str) or not token:
                raise CollectError("not_duplicati", "The server's login answer has no token.")
            self.generation, self._token = "2.1+", token
            return
        if response.status_code == 401:
            raise CollectError("wrong_password", "Wrong password: Duplicati refused the login.")
        if response.status_code in (400, 403, 404, 405):
            self._legacy_login()
            return
        raise self._status_error(response)

    def _login_body(self) -> dict[str, Any]:
        return {"Password": self._password, "RememberMe": False}

    def _legacy_login(self) -> None:
        self.generation = "legacy"
        self._token = ""
        self._bootstrap_xsrf()
        if not self._password:
            return
        response = self._send("POST", "/login.cgi", data={"get-nonce": "1"}, xsrf=True)
        if response.status_code != 200:
            raise self._status_error(response)
        challenge = self._json(response)
        try:
            nonce = base64.b64decode(challenge["Nonce"])
            salt = base64.b64decode(challenge["Salt"])
        except (KeyError, TypeError, ValueError):
            raise CollectError(
                "not_duplicati", "The server's login challenge is not Duplicati's."
            ) from None
        salted = hashlib.sha256(self._password.encode() + salt).digest()
        proof = base64.b64encode(hashlib.sha256(nonce + salted).digest()).decode()
        response = self._send("POST", "/login.cgi", data={"password": proof}, xsrf=True)
        if response.status_code == 401:
            raise CollectError("wrong_password", "Wrong password: Duplicati refused the login.")
        if response.status_code != 200:
            raise self._status_error(response)

    def _bootstrap_xsrf(self) -> None:
        self._send("GET", "/")
        if not self._xsrf_token():
            raise CollectError(
                "not_duplicati", "This does not look like a Duplicati server (no XSRF cookie)."
            )

    def _xsrf_token(self) -> str:
        assert self._http is not None
        for cookie in self._http.cookies.jar:
            if cookie.name == "xsrf-token" and cookie.value:
                return urllib.parse.unquote(cookie.value)
        return ""

    # ------------------------------------------------------------------ requests

    def _send(self, method: str, path: str, *, xsrf: bool = False, **kwargs: Any) -> Answer:
        """One request, its body read up to MAX_RESPONSE_BYTES; network trouble → CollectError."""
        import httpx

        assert self._http is not None
        headers = dict(kwargs.pop("headers", None) or {})
        if xsrf:
            headers["X-XSRF-Token"] = self._xsrf_token()
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        deadline = time.monotonic() + self.deadline
        try:
            with self._http.stream(method, path, headers=headers, **kwargs) as response:
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    if time.monotonic() > deadline:
                        raise httpx.ReadTimeout("the whole answer took too long")
                    size += len(chunk)
                    if size > MAX_RESPONSE_BYTES:
                        raise CollectError(
                            "server_error",
                            f"The server's answer to {path} is larger than "
                            f"{MAX_RESPONSE_BYTES // 2**20} MB.",
                        )
                    chunks.append(chunk)
                return Answer(response.status_code, b"".join(chunks), path)
        except httpx.TimeoutException:
            raise CollectError(
                "timeout", f"The server did not answer in time ({self.base_url})."
            ) from None
        except httpx.TransportError as exc:
            raise self._transport_error(exc) from None

    def _transport_error(self, exc: httpx.TransportError) -> CollectError:
        import httpx

        if self.base_url.startswith("https://") and _is_verify_error(exc):
            presented = ""
            try:
                presented = fetch_certificate(self.base_url).sha256
            except CollectError:
                pass
            shown = format_fingerprint(presented) if presented else "unknown"
            if self.pinned_pem:
                return CollectError(
                    "certificate_changed",
                    "The server's certificate changed since you trusted it (it is now "
                    f"SHA-256 {shown}). If you expected this, trust the new one.",
                    fingerprint=presented,
                )
            return CollectError(
                "certificate_untrusted",
                "The server's certificate is not trusted (self-signed?). Its SHA-256 "
                f"fingerprint is {shown}; trust it only if it is the one your server shows.",
                fingerprint=presented,
            )
        if _is_unknown_host(exc):
            # The resolver's definite answer, not a failure to ask it: the address is wrong.
            return CollectError("bad_address", f"No host is known by the name in {self.base_url}.")
        if isinstance(exc, httpx.ConnectError) and "SSL" not in str(exc):
            return CollectError("unreachable", f"Cannot reach {self.base_url}: {_reason(exc)}.")
        # TLS spoken to a plain-http port, a connection cut short, a protocol error.
        return CollectError(
            "unreachable", f"No Duplicati answer at {self.base_url}: {_reason(exc)}."
        )

    @staticmethod
    def _json(response: Answer) -> Any:
        try:
            return json.loads(response.content.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError):
            raise CollectError(
                "not_duplicati", f"The server's answer to {response.path} is not JSON."
            ) from None

    def _status_error(self, response: Answer) -> CollectError:
        return CollectError(
            "server_error" if response.status_code >= 500 else "not_duplicati",
            f"The server answered {response.status_code} to {response.path}.",
        )

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET an API path as JSON; logs in again once when the session has expired."""
        for attempt in (1, 2):
            response = self._send("GET", path, params=params, xsrf=self.generation == "legacy")
            expired = response.status_code == 401 or (
                self.generation == "legacy"
                and response.status_code == 400
                and b"XSRF" in response.content
            )
            if expired and attempt == 1:
                self._token = ""
                if self.generation == "legacy":
                    self._legacy_login()
                else:
                    self._login()
                continue
            if response.status_code == 401:
                raise CollectError("wrong_password", "Duplicati refused the login.")
            if response.status_code != 200:
                raise self._status_error(response)
            return self._json(response)
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ the data

    def system_info(self) -> dict[str, Any]:
        info = self.get("/api/v1/systeminfo")
        if not isinstance(info, dict):
            raise CollectError("not_duplicati", "The server's systeminfo is not an object.")
        return info

    def backups(self) -> list[dict[str, Any]]:
        """`[{"Backup": {...}, "Schedule": {...} | None}]` (both generations)."""
        listed = self.get("/api/v1/backups")
        if not isinstance(listed, list):
            raise CollectError("not_duplicati", "The server's backup list is not a list.")
        return [item for item in listed if isinstance(item, dict)]

    def log_page(
        self, backup_id: str, *, before: int | None = None, page_size: int = MAX_PAGE_SIZE
    ) -> list[dict[str, Any]]:
        """One page of a backup's job log, newest first; `before` is the smallest ID seen."""
        params: dict[str, Any] = {"pagesize": page_size}
        if before is not None:
            params["offset"] = before
        rows = self.get(f"/api/v1/backup/{urllib.parse.quote(backup_id, safe='')}/log", params)
        if not isinstance(rows, list):
            raise CollectError("not_duplicati", "The server's log page is not a list.")
        return [row for row in rows if isinstance(row, dict)]


def machine_identity(info: dict[str, Any]) -> tuple[str, str]:
    """The report `machine-id` and the machine name, from systeminfo."""
    machine_id = ""
    for option in info.get("Options") or []:
        if isinstance(option, dict) and option.get("Name") == "machine-id":
            machine_id = str(option.get("DefaultValue") or "")
    return machine_id.strip(), str(info.get("MachineName") or "").strip()


def _is_unknown_host(exc: BaseException) -> bool:
    """The name does not exist (EAI_NONAME), as opposed to a resolver that could not be
    reached or answered "try again" (EAI_AGAIN): that may pass, this will not."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return seen.errno == socket.EAI_NONAME
        seen = seen.__cause__ or seen.__context__
    return False


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text[:200]
