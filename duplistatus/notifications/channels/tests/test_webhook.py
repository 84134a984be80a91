"""The webhook kind against a real HTTP receiver that verifies Standard Webhooks signatures."""

from __future__ import annotations

import json

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from .. import webhook
from ..base import PermanentError, TransientError
from ._support import error_texts, make_message
from .peers import HttpPeer, Received, Reply

pytestmark = pytest.mark.timeout(30)

API_KEY = "Bearer rcv-api-key-0123456789"


class VerifyingReceiver:
    """Answers 204 when the signature verifies with ``secret``, 401 otherwise (and records)."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.verified: list[object] = []
        self.failures: list[str] = []

    def __call__(self, request: Received) -> Reply:
        try:
            self.verified.append(Webhook(self.secret).verify(request.body, request.headers))
        except WebhookVerificationError as exc:
            self.failures.append(str(exc))
            return Reply(401, {"error": "invalid signature"})
        return Reply(204)


def config(peer: HttpPeer, **overrides: object) -> webhook.Config:
    return webhook.Config.model_validate({"url": peer.url + "hooks/duplistatus", **overrides})


def test_signed_delivery_verifies_at_the_receiver(http_peer: HttpPeer) -> None:
    cfg = config(http_peer, headers={"Authorization": API_KEY, "X-Team": "ops"})
    receiver = VerifyingReceiver(cfg.secret)
    http_peer.responder = receiver
    message = make_message()

    result = webhook.channel.send(cfg, message, timeout=5)

    assert result.detail == f"webhook at 127.0.0.1:{http_peer.port} answered 204 no content"
    assert receiver.failures == []
    assert receiver.verified == [dict(message.payload)]
    [request] = http_peer.received
    assert (request.method, request.path) == ("POST", "/hooks/duplistatus")
    assert request.header("webhook-id") == message.delivery_id
    assert request.header("Content-Type") == "application/json"
    assert (request.header("User-Agent") or "").startswith("duplistatus")
    assert request.header("Authorization") == API_KEY
    assert request.header("X-Team") == "ops"


def test_retry_carries_the_same_webhook_id(http_peer: HttpPeer) -> None:
    cfg = config(http_peer, method="put")
    http_peer.responder = VerifyingReceiver(cfg.secret)
    webhook.channel.send(cfg, make_message(), timeout=5)
    webhook.channel.send(cfg, make_message(), timeout=5)
    ids = {r.header("webhook-id") for r in http_peer.received}
    assert len(ids) == 1 and [r.method for r in http_peer.received] == ["PUT", "PUT"]


def test_tampered_secret_fails_verification(http_peer: HttpPeer) -> None:
    cfg = config(http_peer)
    receiver = VerifyingReceiver(webhook.generate_secret())  # receiver knows another secret
    http_peer.responder = receiver

    with pytest.raises(PermanentError, match="401 unauthorized: invalid signature"):
        webhook.channel.send(cfg, make_message(), timeout=5)
    assert receiver.verified == [] and receiver.failures == ["No matching signature found"]


def test_tampered_body_fails_verification(http_peer: HttpPeer) -> None:
    cfg = config(http_peer)
    headers = webhook.signed_headers(cfg, make_message(), webhook.encode_body(make_message()))
    with pytest.raises(WebhookVerificationError):
        Webhook(cfg.secret).verify(b'{"type":"success"}', headers)


def test_message_without_payload_gets_a_minimal_document(http_peer: HttpPeer) -> None:
    cfg = config(http_peer)
    http_peer.responder = VerifyingReceiver(cfg.secret)
    webhook.channel.send(cfg, make_message(kind="test", payload={}), timeout=5)
    document = http_peer.received[0].json()
    assert document["type"] == "test"
    assert set(document) == {"type", "event", "job", "server", "run", "links"}
    assert document["event"]["time"] == "2026-03-01T12:30:00+00:00"


def test_410_is_permanent(http_peer: HttpPeer) -> None:
    http_peer.reply_with(Reply(410, "this hook was deleted"))
    with pytest.raises(PermanentError, match="410 gone: this hook was deleted"):
        webhook.channel.send(config(http_peer), make_message(), timeout=5)


def test_503_is_transient_with_retry_after(http_peer: HttpPeer) -> None:
    http_peer.reply_with(Reply(503, "<html>down</html>", {"Retry-After": "7"}))
    with pytest.raises(TransientError) as caught:
        webhook.channel.send(config(http_peer), make_message(), timeout=5)
    assert caught.value.retry_after == 7
    assert caught.value.message.endswith("503 service unavailable")  # HTML body left out


def test_redirect_is_permanent(http_peer: HttpPeer) -> None:
    http_peer.reply_with(Reply(301, b"", {"Location": "https://new.example/hook"}))
    with pytest.raises(PermanentError, match="redirected to https://new.example/hook"):
        webhook.channel.send(config(http_peer), make_message(), timeout=5)


def test_connection_refused_is_transient(closed_port: int) -> None:
    cfg = webhook.Config(url=f"http://127.0.0.1:{closed_port}/hook?token=abcdef123456")
    with pytest.raises(TransientError) as caught:
        webhook.channel.send(cfg, make_message(), timeout=5)
    assert "could not connect to webhook at 127.0.0.1" in caught.value.message
    assert "abcdef123456" not in error_texts(caught.value)  # only the host is named


def test_no_secret_in_errors_even_when_echoed(http_peer: HttpPeer) -> None:
    cfg = config(http_peer, headers={"Authorization": API_KEY})

    def echo(request: Received) -> Reply:
        echoed = {k: request.header(k) for k in ("Authorization", "webhook-signature")}
        return Reply(400, {"error": f"rejected {json.dumps(echoed)} secret={cfg.secret}"})

    http_peer.responder = echo
    with pytest.raises(PermanentError) as caught:
        webhook.channel.send(cfg, make_message(), timeout=5)
    texts = error_texts(caught.value)
    assert "400 bad request: rejected" in texts
    assert API_KEY not in texts and cfg.secret not in texts


def test_unserialisable_payload_is_permanent(http_peer: HttpPeer) -> None:
    with pytest.raises(PermanentError, match="cannot be sent as JSON"):
        webhook.channel.send(config(http_peer), make_message(payload={"x": object()}), timeout=5)
    assert http_peer.received == []


def test_untrusted_https_certificate_is_permanent(https_peer: HttpPeer) -> None:
    cfg = webhook.Config(url=https_peer.url + "hook")
    with pytest.raises(PermanentError, match="TLS certificate verification failed for webhook"):
        webhook.channel.send(cfg, make_message(), timeout=5)
    assert https_peer.received == []
