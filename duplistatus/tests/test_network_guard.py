"""The root conftest's guard: tests reach this machine only (see `_loopback_only`)."""

from __future__ import annotations

import socket

import pytest


def test_tests_never_leave_this_machine():
    """The guard above holds: a public address is refused before any packet is sent, and a
    name that is not this machine's is not even looked up."""
    with pytest.raises(ConnectionRefusedError), socket.socket() as sock:
        sock.settimeout(1)
        sock.connect(("192.0.2.1", 80))  # TEST-NET-1: never routed, and refused here anyway
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("example.com", 80)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=2):
            pass
