"""Shared test fixtures. Tests run against a real database: a SQLite file by default, or the
PostgreSQL named by DATABASE_URL (CI runs the suite on both)."""

from __future__ import annotations

import ipaddress
import json
import socket
import urllib.parse
from pathlib import Path

import pytest

# Real peers (HTTP, SMTP, a test CA) for the channel and page tests.
pytest_plugins = [
    "duplistatus.notifications.channels.tests.fixtures",
    "duplistatus.collect.tests.fixtures",
    "duplistatus.tests.site",
]

# Real Duplicati reports, inside the repository (SOURCES.md there says where each came from):
# the suite needs nothing beside a clean clone.
CORPUS = Path(__file__).resolve().parent / "duplistatus" / "ingest" / "tests" / "corpus"


def pytest_sessionstart(session: pytest.Session) -> None:
    # What `duplistatus setup` does first: pages in the tests speak the catalogues as they are
    # in the working tree, not as they were when a .mo was last made.
    from duplistatus.i18n import compile_catalogues

    compile_catalogues()


def corpus_body(relative: str) -> tuple[bytes, str]:
    """A corpus file as Duplicati put it on the wire, following manifest.json's `replay`."""
    entry = next(e for e in _manifest() if e["file"].endswith(relative))
    raw = (CORPUS / entry["file"]).read_bytes()
    replay = entry["replay"]
    form = "application/x-www-form-urlencoded"
    if "quote(obj['message']" in replay:
        text = json.loads(raw)["message"]
        return b"message=" + urllib.parse.quote(text, safe="").encode(), form
    if "quote(text" in replay:
        return b"message=" + urllib.parse.quote(raw.decode(), safe="").encode(), form
    if "'message=' + file contents" in replay:
        return b"message=" + raw, form
    if "x-www-form-urlencoded" in replay:
        return raw, form
    return raw, "application/json"


def _manifest() -> list[dict]:
    return json.loads((CORPUS / "manifest.json").read_text())["files"]


def subprocess_database_url() -> str:
    """DATABASE_URL of the test database, for processes a test starts itself."""
    from django.db import connection

    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return "sqlite:///" + settings["NAME"]
    user = settings["USER"] or "postgres"
    host = settings["HOST"] or "127.0.0.1"
    password = f":{settings['PASSWORD']}" if settings["PASSWORD"] else ""
    return f"postgres://{user}{password}@{host}:{settings['PORT'] or 5432}/{settings['NAME']}"


@pytest.fixture
def api_token(db) -> str:
    from duplistatus.accounts.models import ApiToken

    return ApiToken.create("tests")[1]


@pytest.fixture
def auth_client(client, api_token):
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {api_token}"
    return client


@pytest.fixture(autouse=True)
def _reset_clock():
    from duplistatus import clock
    from duplistatus.backups import models

    models._defaults_cache.clear()  # each test's database starts without the row
    yield
    clock.reset()
    models._defaults_cache.clear()


# Tests reach this machine only. Generated input (schemathesis, hypothesis) and user-supplied
# addresses (a channel's URL, a Duplicati server's address) must never make a test connect to,
# or even look up, anything else: such a connection fails here as an unreachable host would.
_LOCAL_NAMES = {"localhost", "localhost.localdomain", socket.gethostname()}


def _is_loopback(host: object) -> bool:
    if not isinstance(host, str):
        return False
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _is_local_name(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if host is None or _is_loopback(host):
        return True
    return isinstance(host, str) and (host in _LOCAL_NAMES or host.endswith(".localhost"))


@pytest.fixture(autouse=True, scope="session")
def _loopback_only():
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def refused(address: object) -> OSError:
        return ConnectionRefusedError(f"tests connect only to this machine, not {address!r}")

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            raise refused(address)
        return real_connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            return 111  # ECONNREFUSED
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if not _is_local_name(host):
            raise socket.gaierror(socket.EAI_NONAME, f"tests look up only local names: {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo
    yield
    socket.socket.connect, socket.socket.connect_ex = real_connect, real_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = real_getaddrinfo
