"""The ntfy kind against a real HTTP server on 127.0.0.1 standing in for ntfy."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from .. import ntfy
from ..base import PermanentError, TransientError
from ._support import error_texts, make_message
from .peers import HttpPeer, Reply

pytestmark = pytest.mark.timeout(30)

TOKEN = "tk_s3cr3tt0k3nvalue"
PASSWORD = "hunter2-pa55word"


def config(peer: HttpPeer, **overrides: object) -> ntfy.Config:
    return ntfy.Config.model_validate({"server_url": peer.url, "topic": "backups", **overrides})


def test_publishes_json_to_server_root_with_bearer_token(http_peer: HttpPeer) -> None:
    http_peer.reply_with(Reply(200, {"id": "hwQ2YpKdmg", "event": "message"}))
    cfg = config(
        http_peer,
        access_token=TOKEN,
        tags=["backup", "x"],
        icon_url="https://duplistatus.example/icon.png",
        http_action={"label": "Run again", "url": "https://hooks.example/run", "method": "PUT"},
    )
    message = make_message()

    result = ntfy.channel.send(cfg, message, timeout=5)

    assert result.detail == "ntfy accepted message id hwQ2YpKdmg"
    [request] = http_peer.received
    assert (request.method, request.path) == ("POST", "/")
    assert request.header("Authorization") == f"Bearer {TOKEN}"
    assert request.header("Content-Type") == "application/json"
    assert request.header("X-Duplistatus-Delivery") == message.delivery_id
    assert request.json() == {
        "topic": "backups",
        "title": "Backup failed: nas / Documents",
        "message": "**Documents** on *nas* ended with `Error`.",
        "markdown": True,
        "priority": 4,  # configured table: error -> 4, regardless of message.priority
        "tags": ["x", "backup"],
        "click": "https://duplistatus.example/jobs/42",
        "actions": [
            {"action": "view", "label": "Open job", "url": "https://duplistatus.example/jobs/42"},
            {
                "action": "http",
                "label": "Run again",
                "url": "https://hooks.example/run",
                "method": "PUT",
            },
        ],
        "icon": "https://duplistatus.example/icon.png",
        "sequence_id": message.delivery_id,
    }


def test_basic_auth_and_path_prefix(http_peer: HttpPeer) -> None:
    cfg = ntfy.Config(
        server_url=http_peer.url + "ntfy", topic="t", username="phil", password=PASSWORD
    )
    ntfy.channel.send(cfg, make_message(click_url=None, body_markdown=None), timeout=5)

    [request] = http_peer.received
    assert request.path == "/ntfy/"
    expected = base64.b64encode(f"phil:{PASSWORD}".encode()).decode()
    assert request.header("Authorization") == f"Basic {expected}"
    document = request.json()
    assert "actions" not in document and "click" not in document  # no job page, no view button
    assert "markdown" not in document
    assert document["message"] == make_message().body


def test_plain_text_when_markdown_is_off(http_peer: HttpPeer) -> None:
    ntfy.channel.send(config(http_peer, markdown=False), make_message(), timeout=5)
    document = http_peer.received[0].json()
    assert document["message"] == make_message().body
    assert "markdown" not in document


def test_priority_rule(http_peer: HttpPeer) -> None:
    cfg = config(http_peer, priorities={"success": "min", "error": 5})
    ntfy.channel.send(cfg, make_message(kind="success", priority=4), timeout=5)
    ntfy.channel.send(cfg, make_message(kind="error"), timeout=5)
    ntfy.channel.send(cfg, make_message(kind="fatal"), timeout=5)  # default row kept
    ntfy.channel.send(cfg, make_message(kind="custom-kind", priority=1), timeout=5)
    assert [r.json()["priority"] for r in http_peer.received] == [1, 5, 5, 1]


def test_sequence_id_is_valid_for_any_delivery_id(http_peer: HttpPeer) -> None:
    ugly = "delivery:42/ntfy@" + "x" * 80
    ntfy.channel.send(config(http_peer), make_message(delivery_id=ugly), timeout=5)
    sequence = http_peer.received[0].json()["sequence_id"]
    assert sequence == ntfy.sequence_id(ugly)  # stable
    assert len(sequence) <= 64 and sequence.replace("-", "").replace("_", "").isalnum()
    assert ntfy.sequence_id(ugly) != ntfy.sequence_id(ugly + "y")


def test_long_messages_are_cut_to_ntfy_limit(http_peer: HttpPeer) -> None:
    body = "é" * 5000
    ntfy.channel.send(config(http_peer), make_message(body=body, body_markdown=None), timeout=5)
    text = http_peer.received[0].json()["message"]
    assert len(text.encode()) <= 4096 and text.endswith("(truncated)")


def test_403_with_credentials_is_permanent_and_clear(http_peer: HttpPeer) -> None:
    http_peer.reply_with(Reply(403, {"code": 40301, "http": 403, "error": "forbidden"}))
    with pytest.raises(PermanentError) as caught:
        ntfy.channel.send(config(http_peer, access_token=TOKEN), make_message(), timeout=5)
    assert "ntfy at 127.0.0.1" in caught.value.message
    assert "rejected the credentials (403 forbidden)" in caught.value.message
    assert TOKEN not in error_texts(caught.value)


def test_403_without_credentials_explains_reserved_topic(http_peer: HttpPeer) -> None:
    http_peer.reply_with(Reply(403, {"code": 40301, "http": 403, "error": "forbidden"}))
    with pytest.raises(PermanentError, match="reserved"):
        ntfy.channel.send(config(http_peer), make_message(), timeout=5)


def test_429_is_transient_with_retry_after_seconds(http_peer: HttpPeer) -> None:
    http_peer.reply_with(
        Reply(
            429,
            {"code": 42901, "http": 429, "error": "limit reached: too many requests"},
            {"Retry-After": "30"},
        )
    )
    with pytest.raises(TransientError) as caught:
        ntfy.channel.send(config(http_peer), make_message(), timeout=5)
    assert caught.value.retry_after == 30
    assert "429 too many requests" in caught.value.message
    assert "limit reached" in caught.value.message


def test_429_retry_after_as_http_date(http_peer: HttpPeer) -> None:
    when = datetime.now(UTC) + timedelta(seconds=120)
    http_peer.reply_with(Reply(429, b"", {"Retry-After": format_datetime(when, usegmt=True)}))
    with pytest.raises(TransientError) as caught:
        ntfy.channel.send(config(http_peer), make_message(), timeout=5)
    assert caught.value.retry_after is not None
    assert 100 < caught.value.retry_after <= 120


def test_500_is_transient(http_peer: HttpPeer) -> None:
    http_peer.reply_with(Reply(500, {"code": 50001, "http": 500, "error": "internal error"}))
    with pytest.raises(TransientError, match="500 internal server error"):
        ntfy.channel.send(config(http_peer), make_message(), timeout=5)


def test_400_is_permanent_with_ntfy_error_text(http_peer: HttpPeer) -> None:
    http_peer.reply_with(Reply(400, {"code": 40009, "http": 400, "error": "topic invalid"}))
    with pytest.raises(PermanentError, match="400 bad request: topic invalid"):
        ntfy.channel.send(config(http_peer), make_message(), timeout=5)


def test_connection_refused_is_transient(closed_port: int) -> None:
    cfg = ntfy.Config(server_url=f"http://127.0.0.1:{closed_port}/", topic="t")
    with pytest.raises(
        TransientError, match=f"could not connect to ntfy at 127.0.0.1:{closed_port}"
    ):
        ntfy.channel.send(cfg, make_message(), timeout=5)


def test_slow_server_is_transient(http_peer: HttpPeer) -> None:
    http_peer.reply_with(Reply(200, {"id": "late"}, delay=2))
    with pytest.raises(TransientError, match="did not answer within 0.3 s"):
        ntfy.channel.send(config(http_peer), make_message(), timeout=0.3)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 429, 500, 502])
@pytest.mark.parametrize("auth", ["token", "basic"])
def test_no_secret_in_any_error(http_peer: HttpPeer, status: int, auth: str) -> None:
    # A hostile or buggy server echoing the credentials back must not get them into errors.
    def echo(request):  # type: ignore[no-untyped-def]
        return Reply(status, {"error": f"bad auth {request.header('Authorization')}"})

    http_peer.responder = echo
    credentials = (
        {"access_token": TOKEN} if auth == "token" else {"username": "phil", "password": PASSWORD}
    )
    with pytest.raises((PermanentError, TransientError)) as caught:
        ntfy.channel.send(config(http_peer, **credentials), make_message(), timeout=5)
    texts = error_texts(caught.value)
    assert TOKEN not in texts and PASSWORD not in texts
    assert base64.b64encode(f"phil:{PASSWORD}".encode()).decode() not in texts


def test_no_secret_in_connection_errors(closed_port: int) -> None:
    cfg = ntfy.Config(server_url=f"http://127.0.0.1:{closed_port}/", topic="t", access_token=TOKEN)
    with pytest.raises(TransientError) as caught:
        ntfy.channel.send(cfg, make_message(), timeout=5)
    assert TOKEN not in error_texts(caught.value)


def test_subscribe_url() -> None:
    assert ntfy.subscribe_url(ntfy.Config(topic="abc")) == "ntfy://ntfy.sh/abc"
    cfg = ntfy.Config(server_url="http://push.example:8080/ntfy", topic="abc")
    assert ntfy.subscribe_url(cfg) == "ntfy://push.example:8080/ntfy/abc"


@pytest.mark.parametrize(
    ("click_url", "label"),
    [
        ("https://duplistatus.example/runs/7", "Open run"),
        ("https://duplistatus.example/jobs/42", "Open job"),
        ("https://duplistatus.example/", "Open duplistatus"),
    ],
)
def test_view_button_names_the_page_it_opens(click_url: str, label: str) -> None:
    cfg = ntfy.Config(server_url="https://ntfy.example/", topic="t")
    document = ntfy.build_publish(cfg, make_message(click_url=click_url))
    assert document["actions"] == [{"action": "view", "label": label, "url": click_url}]
