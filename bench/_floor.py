"""The floor bench/ingest.py measures duplistatus against: the least a Python server can do to
take a Duplicati upload and keep it, with the standard library and SQLite alone.

    python bench/_floor.py PORT DATABASE_FILE

Per upload: read the body, parse the JSON, take the identity and BeginTime from it, store the
body and those fields in one row (unique on the body's SHA-256, as duplistatus stores a body
once) and commit, in WAL mode with synchronous=NORMAL as duplistatus runs SQLite; answer a
small JSON object. No framework, no ORM, no schedule, no events. Not a benchmark itself (the
leading underscore keeps .ci/run from running it); bench/ingest.py starts it and reports
duplistatus's rate as a fraction of this one's, measured in the same run with the same client.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCHEMA = """
CREATE TABLE IF NOT EXISTS run (
    id INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE,
    machine_id TEXT NOT NULL,
    backup_name TEXT NOT NULL,
    begin_time TEXT NOT NULL,
    status TEXT NOT NULL,
    body BLOB NOT NULL
)
"""


class Store:
    def __init__(self, path: str):
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(SCHEMA)
        self.lock = threading.Lock()

    def add(self, body: bytes) -> int:
        doc = json.loads(body)
        data, extra = doc["Data"], doc.get("Extra") or {}
        row = (
            hashlib.sha256(body).hexdigest(),
            extra.get("machine-id", ""),
            extra.get("backup-name", ""),
            data["BeginTime"],
            data.get("ParsedResult", ""),
            body,
        )
        with self.lock:
            cursor = self.db.execute(
                "INSERT INTO run (sha256, machine_id, backup_name, begin_time, status, body) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                row,
            )
            return int(cursor.lastrowid or 0)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the benchmark's clients use
    disable_nagle_algorithm = True  # headers and body are two writes
    store: Store

    def log_message(self, format: str, *args: object) -> None:
        pass

    def answer(self, status: int, payload: dict[str, object]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.answer(200, {"status": "ok"})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            run_id = self.store.add(body)
        except sqlite3.IntegrityError:
            self.answer(409, {"error": "ignored, duplicated data"})
        except (ValueError, KeyError, TypeError) as exc:
            self.answer(400, {"error": str(exc)})
        else:
            self.answer(200, {"success": True, "run_id": run_id})


def main() -> None:
    port, path = int(sys.argv[1]), sys.argv[2]
    Handler.store = Store(path)
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
