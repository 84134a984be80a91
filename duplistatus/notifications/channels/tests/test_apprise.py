"""The Apprise kind, through Apprise's json:// plugin to a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import logging
import sys

import pytest

from .. import apprise as apprise_kind
from ..base import PermanentError, TransientError
from ._support import error_texts, make_message
from .peers import HttpPeer, Reply

pytestmark = pytest.mark.timeout(60)  # Apprise loads ~200 plugins on first use

PASSWORD = "ap-pr1se-pa55"


def test_delivers_title_and_body(http_peer: HttpPeer) -> None:
    url = f"json://127.0.0.1:{http_peer.port}/apprise/in"
    cfg = apprise_kind.Config(url=url)

    result = apprise_kind.channel.send(cfg, make_message(body_markdown=None), timeout=5)

    assert result.detail == "Apprise delivered via JSON"
    [request] = http_peer.received
    assert (request.method, request.path) == ("POST", "/apprise/in")
    document = request.json()
    assert document["title"] == "Backup failed: nas / Documents"
    assert document["message"] == make_message().body
    assert document["type"] == "failure"  # kind "error"


def test_closed_port_is_transient_and_never_shows_the_url(closed_port: int) -> None:
    url = f"json://user:{PASSWORD}@127.0.0.1:{closed_port}/hook-tok3n-path"
    cfg = apprise_kind.Config(url=url)
    with pytest.raises(TransientError) as caught:
        apprise_kind.channel.send(cfg, make_message(), timeout=2)
    texts = error_texts(caught.value)
    assert "Apprise could not deliver via JSON" in texts
    assert "Connection error" in texts  # Apprise's own explanation is kept
    assert url not in texts and PASSWORD not in texts and "hook-tok3n-path" not in texts


def test_server_error_is_transient(http_peer: HttpPeer) -> None:
    http_peer.reply_with(Reply(500, "boom"))
    cfg = apprise_kind.Config(url=f"json://127.0.0.1:{http_peer.port}/x")
    with pytest.raises(TransientError, match="Apprise could not deliver via JSON"):
        apprise_kind.channel.send(cfg, make_message(), timeout=5)


def test_apprise_logs_do_not_reach_application_logs(
    closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"json://user:{PASSWORD}@127.0.0.1:{closed_port}/p"
    with caplog.at_level(logging.DEBUG), pytest.raises(TransientError):
        apprise_kind.channel.send(apprise_kind.Config(url=url), make_message(), timeout=2)
    assert PASSWORD not in caplog.text


def test_invalid_url_is_rejected_without_echoing_it(caplog: pytest.LogCaptureFixture) -> None:
    url = "tgram://not-a-valid-bot-token-SECRET/"
    with caplog.at_level(logging.DEBUG), pytest.raises(ValueError) as caught:
        apprise_kind.Config(url=url)
    assert "Apprise does not accept this tgram:// URL" in str(caught.value)
    assert "SECRET" not in str(caught.value)
    assert "SECRET" not in caplog.text  # Apprise logs rejected URLs in full; none escaped
    with pytest.raises(ValueError, match="one Apprise URL"):
        apprise_kind.Config(url="just some text")


def test_invalid_url_at_send_time_is_permanent(caplog: pytest.LogCaptureFixture) -> None:
    # A stored config from an older Apprise version that the installed one no longer accepts.
    cfg = apprise_kind.Config.model_construct(url="nosuchscheme://SECRET-TOKEN/x")
    with caplog.at_level(logging.DEBUG), pytest.raises(PermanentError) as caught:
        apprise_kind.channel.send(cfg, make_message(), timeout=2)
    assert "SECRET-TOKEN" not in error_texts(caught.value)
    assert "SECRET-TOKEN" not in caplog.text


def test_missing_apprise_package_is_permanent(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes `import apprise` fail exactly as if it were not installed.
    monkeypatch.setitem(sys.modules, "apprise", None)
    cfg = apprise_kind.Config(url="json://127.0.0.1:9/x")  # shape-only validation now
    with pytest.raises(PermanentError, match=r"pip install duplistatus\[apprise\]"):
        apprise_kind.channel.send(cfg, make_message(), timeout=2)


def test_url_secrets_cover_tokens_but_keep_hosts_readable() -> None:
    pieces = apprise_kind.url_secrets(
        "tgram://123456:AAHtok3n/987654?secret=qwerty12&format=markdown"
    )
    assert "123456:AAHtok3n" in pieces and "987654" in pieces and "qwerty12" in pieces
    assert all("example.com" != p for p in apprise_kind.url_secrets("mailto://u:pw@example.com"))
