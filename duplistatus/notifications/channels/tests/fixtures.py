"""Fixtures with real peers on 127.0.0.1 for the channel and page tests: an HTTP server,
SMTP servers, a trusted CA.

Nothing here is a mock: the channels talk to these servers over real sockets, and the
servers record what arrived.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller

from duplistatus.notifications.channels.tests.peers import (
    HttpPeer,
    Mailbox,
    Pki,
    Reply,
    StartServer,
    free_port,
)


@pytest.fixture
def http_peer() -> Iterator[HttpPeer]:
    """A real HTTP server on 127.0.0.1 standing in for ntfy or a webhook receiver; it records
    what arrived."""
    yield from _serving(HttpPeer())


@pytest.fixture
def https_peer(pki: Pki) -> Iterator[HttpPeer]:
    """Like http_peer, over TLS with a certificate from the test CA (not trusted by default)."""
    yield from _serving(HttpPeer(tls=pki.server_context))


@pytest.fixture
def peers() -> Iterator[Callable[..., HttpPeer]]:
    """Start as many HTTP peers as a test needs (optionally with a first reply); all are
    stopped after the test."""
    started: list[HttpPeer] = []

    def start(reply: Reply | None = None) -> HttpPeer:
        peer = HttpPeer()
        if reply is not None:
            peer.reply_with(reply)
        peer.start()
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.stop()


def _serving(peer: HttpPeer) -> Iterator[HttpPeer]:
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()


@pytest.fixture
def closed_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA and a server certificate for localhost / 127.0.0.1 issued by it."""
    ca = trustme.CA()
    certificate = ca.issue_cert("localhost", "127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    ca_file = tmp_path_factory.mktemp("pki") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return Pki(ca, ca_file, context)


@pytest.fixture
def smtp_server() -> Iterator[StartServer]:
    """Start aiosmtpd controllers with the given options; all are stopped after the test."""
    controllers: list[Controller] = []

    def start(**options: Any) -> tuple[Mailbox, int]:
        mailbox = Mailbox()
        port = free_port()
        controller = Controller(
            mailbox, hostname="127.0.0.1", port=port, ready_timeout=10, **options
        )
        controller.start()
        controllers.append(controller)
        return mailbox, port

    yield start
    for controller in controllers:
        controller.stop()
