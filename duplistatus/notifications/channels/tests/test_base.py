"""The shared contract: registry, error classification, Retry-After, redaction, tokens."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from .. import KINDS, get
from ..base import (
    ChannelKind,
    Message,
    PermanentError,
    TransientError,
    classify_http_status,
    parse_retry_after,
    redact,
    stable_token,
)


def test_registry() -> None:
    assert list(KINDS) == ["ntfy", "email", "webhook", "apprise"]
    for name, kind in KINDS.items():
        assert isinstance(kind, ChannelKind) and kind.kind == name and get(name) is kind
        assert set(kind.secret_fields) <= set(kind.Config.model_fields)
    with pytest.raises(KeyError, match="unknown channel kind 'sms'"):
        get("sms")


def test_channels_do_not_import_django() -> None:
    # A fresh interpreter: in this one a test plugin may already have imported Django.
    code = (
        "import sys, duplistatus.notifications.channels as c\n"
        "c.ntfy.Config(); c.webhook.Config(url='https://x.example/')\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('django', 'apprise')]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize("status", [200, 201, 204])
def test_success_statuses_pass(status: int) -> None:
    classify_http_status(status, {}, b"")


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
def test_transient_statuses(status: int) -> None:
    with pytest.raises(TransientError):
        classify_http_status(status, {"retry-after": "12"}, b"")


@pytest.mark.parametrize("status", [301, 400, 401, 403, 404, 410, 413, 422])
def test_permanent_statuses(status: int) -> None:
    with pytest.raises(PermanentError):
        classify_http_status(status, {}, b"")


def test_error_detail_from_json_and_text() -> None:
    with pytest.raises(TransientError) as caught:
        classify_http_status(
            429,
            {"Retry-After": "5"},
            b'{"code":42901,"http":429,"error":"limit reached"}',
            service="ntfy",
        )
    assert caught.value.message == "ntfy answered 429 too many requests: limit reached"
    assert caught.value.retry_after == 5
    with pytest.raises(PermanentError, match="404 not found: no such hook$"):
        classify_http_status(404, {}, "no such hook\nmore lines")
    with pytest.raises(PermanentError, match="answered 400 bad request: bad field"):
        classify_http_status(400, {}, b'{"error": {"message": "bad field"}}')


def test_parse_retry_after() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("Sun, 01 Mar 2026 12:01:00 GMT", now=now) == 60
    assert parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", now=now) == 0  # in the past
    assert parse_retry_after("-5") == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None and parse_retry_after(None) is None


def test_redact() -> None:
    text = "token tk_abc/def failed; url had tk_abc%2Fdef; pw p@ss"
    assert redact(text, ["tk_abc/def", "p@ss", None, ""]) == "token *** failed; url had ***; pw ***"
    assert redact("abcdef", ["abc", "abcdef"]) == "***"  # longest first


def test_stable_token() -> None:
    assert stable_token("0190f5b2-7c1e") == "0190f5b2-7c1e"
    odd = stable_token("run:42/ntfy")
    assert odd == stable_token("run:42/ntfy") and odd.startswith("run-42-ntfy-")
    assert stable_token("run:42/ntfy") != stable_token("run:42:ntfy")
    assert len(stable_token("x" * 300)) == 64


def test_message_checks_priority_and_id() -> None:
    with pytest.raises(ValueError, match="priority"):
        Message(delivery_id="d", kind="error", title="t", body="b", priority=9)
    with pytest.raises(ValueError, match="delivery_id"):
        Message(delivery_id="", kind="error", title="t", body="b")
