"""POST /api/upload as `serve` runs it (duplistatus.wsgi): a shorter middleware chain than
the pages', which must still see the client's address through a trusted proxy."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from conftest import CORPUS
from duplistatus.backups.models import RawReport
from duplistatus.proxies import parse_networks

pytestmark = pytest.mark.django_db(transaction=True)

V21 = CORPUS / "payloads" / "v2.1.0.5_backup_success_json_lekoarts-fixture-anonymized.json"


def served(environ: dict) -> tuple[str, dict[str, str], bytes]:
    from duplistatus.wsgi import application

    started: list = []
    body = application(environ, lambda status, headers, exc=None: started.append((status, headers)))
    try:
        content = b"".join(body)
    finally:
        body.close()
    status, headers = started[0]
    return status, dict(headers), content


def test_upload_through_a_trusted_proxy_keeps_the_client_address(settings):
    settings.TRUSTED_PROXIES = parse_networks("10.0.0.0/8")
    request = RequestFactory().post(
        "/api/upload",
        data=V21.read_bytes(),
        content_type="application/json",
        REMOTE_ADDR="10.1.2.3",
        HTTP_X_FORWARDED_FOR="198.51.100.9",
    )
    status, headers, content = served(request.environ)
    assert status.startswith("200"), content
    assert b'"success": true' in content
    assert RawReport.objects.get().remote_addr == "198.51.100.9"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "Set-Cookie" not in headers


def test_upload_from_an_untrusted_peer_ignores_its_forwarded_for(settings):
    settings.TRUSTED_PROXIES = parse_networks("10.0.0.0/8")
    request = RequestFactory().post(
        "/api/upload",
        data=V21.read_bytes(),
        content_type="application/json",
        REMOTE_ADDR="192.0.2.7",
        HTTP_X_FORWARDED_FOR="198.51.100.9",
    )
    status, _, content = served(request.environ)
    assert status.startswith("200"), content
    assert RawReport.objects.get().remote_addr == "192.0.2.7"


def test_other_paths_keep_the_full_middleware():
    request = RequestFactory().get("/login", REMOTE_ADDR="192.0.2.7")
    status, headers, _ = served(request.environ)
    assert status.startswith("200")
    assert "csrftoken" in headers.get("Set-Cookie", "")
