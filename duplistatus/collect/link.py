"""Linking a server to its Duplicati REST API: test the connection, and save the address,
the password (encrypted) and a certificate the user chose to trust (pinned)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from duplistatus import clock, crypto
from duplistatus.backups.models import CollectEvery, Server

from .client import (
    CollectError,
    DuplicatiClient,
    candidate_urls,
    fetch_certificate,
    format_fingerprint,
    machine_identity,
    normalize_fingerprint,
)
from .collect import is_machine_id


@dataclass(frozen=True)
class Linked:
    """What a successful connection found."""

    base_url: str
    generation: str
    version: str
    machine_id: str
    machine_name: str
    backups: int
    certificate_pem: str
    fingerprint: str
    # The password the connection worked with, for `save`; never shown.
    password: str = field(repr=False, default="")


def test_connection(
    address: str,
    password: str,
    *,
    server: Server | None = None,
    trust_fingerprint: str = "",
    **client_options: Any,
) -> Linked:
    """Connect and read what identifies the server. `trust_fingerprint`: the SHA-256 of a
    certificate the user was shown and trusts; the server must present exactly that one.
    An empty password reuses the stored one (if any); an unchanged address keeps the pinned
    certificate. Raises CollectError."""
    if not password and server is not None and server.duplicati_secret:
        try:
            password = crypto.decrypt(server.duplicati_secret).get("password", "")
        except crypto.SecretsUnreadable:
            password = ""
    # An empty password is allowed: a legacy server (≤ 2.0.8.1) may have none set.
    pem, fingerprint = "", ""
    wanted = normalize_fingerprint(trust_fingerprint)
    if wanted:
        https = [url for url in candidate_urls(address) if url.startswith("https://")]
        if not https:
            raise CollectError("bad_address", "A certificate can only be trusted over https.")
        presented = fetch_certificate(https[0])
        if presented.sha256 != wanted:
            raise CollectError(
                "certificate_changed",
                "The server now presents another certificate (SHA-256 "
                f"{format_fingerprint(presented.sha256)}) than the one you chose to trust.",
                fingerprint=presented.sha256,
            )
        pem, fingerprint = presented.pem, presented.sha256
    elif server is not None and server.duplicati_certificate and _same_address(server, address):
        pem, fingerprint = server.duplicati_certificate, server.duplicati_fingerprint
    with DuplicatiClient(address, password, pinned_pem=pem, **client_options) as client:
        client.connect()
        info = client.system_info()
        machine_id, machine_name = machine_identity(info)
        backups = len(client.backups())
        if server is not None and machine_id and is_machine_id(server.key):
            if machine_id != server.key:
                raise CollectError(
                    "wrong_server",
                    f"This address belongs to another Duplicati installation (machine id "
                    f"{machine_id}, this server's is {server.key}).",
                )
        linked = Linked(
            base_url=client.base_url,
            generation=client.generation,
            version=str(info.get("ServerVersion") or ""),
            machine_id=machine_id,
            machine_name=machine_name,
            backups=backups,
            certificate_pem=pem if client.base_url.startswith("https://") else "",
            fingerprint=fingerprint if client.base_url.startswith("https://") else "",
            password=password,
        )
    return linked


def _same_address(server: Server, address: str) -> bool:
    try:
        return server.duplicati_url in candidate_urls(address)
    except CollectError:
        return False


def save(linked: Linked, server: Server | None, collect_every: str = "") -> Server:
    """Store the connection on `server`, or on the server with this machine id (created
    when new: a server added by its address before it ever reported)."""
    if collect_every not in CollectEvery.values:
        collect_every = ""
    now = clock.now()
    with transaction.atomic():
        if server is None:
            key = linked.machine_id or f"name:{linked.machine_name}"
            server, _ = Server.objects.get_or_create(
                key=key[:200],
                defaults={
                    "name": (linked.machine_name or linked.machine_id)[:200],
                    "created_at": now,
                    "last_seen_at": now,
                },
            )
        server.duplicati_url = linked.base_url
        server.duplicati_secret = crypto.encrypt({"password": linked.password})
        server.duplicati_certificate = linked.certificate_pem
        server.duplicati_fingerprint = linked.fingerprint
        server.collect_every = collect_every
        server.next_collect_at = None
        server.save(
            update_fields=[
                "duplicati_url",
                "duplicati_secret",
                "duplicati_certificate",
                "duplicati_fingerprint",
                "collect_every",
                "next_collect_at",
            ]
        )
    return server


def unlink(server: Server) -> None:
    """Forget the address, password and certificate (collected runs stay)."""
    Server.objects.filter(pk=server.pk).update(
        duplicati_url="",
        duplicati_secret="",
        duplicati_certificate="",
        duplicati_fingerprint="",
        collect_every="",
        next_collect_at=None,
    )
