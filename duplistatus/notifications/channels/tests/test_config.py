"""Config validation of every kind: defaults, generated values, clear errors, no echoed secrets."""

from __future__ import annotations

import re

import pydantic
import pytest

from .. import email, ntfy, webhook

# --- ntfy ---------------------------------------------------------------------------------


def test_blank_ntfy_topic_is_generated_and_stable() -> None:
    first = ntfy.Config()
    assert re.fullmatch(r"duplistatus-[a-z0-9]{12}", first.topic)
    assert first.server_url == "https://ntfy.sh/"
    saved = first.model_dump()
    assert ntfy.Config.model_validate(saved).topic == first.topic  # reload keeps it
    assert ntfy.Config(topic="  ").topic != first.topic  # each blank gets its own


def test_ntfy_topic_rules() -> None:
    assert ntfy.Config(topic=" my_Topic-1 ").topic == "my_Topic-1"
    with pytest.raises(pydantic.ValidationError, match="letters, digits, '-' and '_'"):
        ntfy.Config(topic="has space")
    with pytest.raises(pydantic.ValidationError):
        ntfy.Config(topic="x" * 65)


@pytest.mark.parametrize("bad", [0, 6, "loud", 2.5, True])
def test_invalid_priority_is_rejected(bad: object) -> None:
    with pytest.raises(pydantic.ValidationError, match="priority for 'error' must be 1..5"):
        ntfy.Config.model_validate({"priorities": {"error": bad}})


def test_priorities_merge_with_defaults_and_accept_names() -> None:
    cfg = ntfy.Config.model_validate({"priorities": {"success": "min", "warning": "5"}})
    assert cfg.priorities["success"] == 1 and cfg.priorities["warning"] == 5
    assert cfg.priorities["fatal"] == 5 and cfg.priorities["error"] == 4
    with pytest.raises(pydantic.ValidationError, match="unknown event kind 'sucess'"):
        ntfy.Config(priorities={"sucess": 2})


def test_ntfy_credentials_rules() -> None:
    with pytest.raises(pydantic.ValidationError, match="either an access token or a username"):
        ntfy.Config(access_token="tk_abc", username="u", password="p")
    with pytest.raises(pydantic.ValidationError, match="given together"):
        ntfy.Config(username="u")
    cfg = ntfy.Config(access_token="", username=" ", password="")
    assert (cfg.access_token, cfg.username, cfg.password) == (None, None, None)


def test_ntfy_server_url_normalised() -> None:
    assert ntfy.Config(server_url="ntfy.example.com").server_url == "https://ntfy.example.com/"
    assert ntfy.Config(server_url="http://h:81/ntfy").server_url == "http://h:81/ntfy/"
    with pytest.raises(pydantic.ValidationError, match="must not contain credentials"):
        ntfy.Config(server_url="https://u:secretpw@ntfy.example.com/")
    with pytest.raises(pydantic.ValidationError, match="http:// or https://"):
        ntfy.Config(server_url="ftp://ntfy.example.com/")


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(pydantic.ValidationError, match="Extra inputs are not permitted"):
        ntfy.Config.model_validate({"topic": "t", "tokne": "x"})


def test_secrets_are_not_in_repr() -> None:
    cfg = ntfy.Config(access_token="tk_supersecret")
    assert "tk_supersecret" not in repr(cfg)
    hook = webhook.Config(url="https://h.example/x", headers={"Authorization": "Bearer zzz"})
    assert "zzz" not in repr(hook) and hook.secret not in repr(hook)


# --- e-mail -------------------------------------------------------------------------------


def mail(**overrides: object) -> email.Config:
    return email.Config.model_validate(
        {
            "host": "smtp.example.com",
            "from_address": "duplistatus@example.com",
            "recipients": ["ops@example.com"],
            **overrides,
        }
    )


@pytest.mark.parametrize(
    "bad", ["not-an-address", "a@", "@example.com", "a b@example.com", "x@example.com\nBcc: y@z"]
)
def test_bad_recipient_addresses_are_rejected_clearly(bad: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        mail(recipients=["ok@example.com", bad])
    assert "is not a valid e-mail address (expected name@example.com)" in str(caught.value)


def test_bad_from_address_is_rejected() -> None:
    with pytest.raises(pydantic.ValidationError, match="'duplistatus' is not a valid e-mail"):
        mail(from_address="duplistatus")


def test_recipients_from_one_string_deduplicated() -> None:
    cfg = mail(recipients="ops@example.com; admin@example.com, OPS@example.com")
    assert cfg.recipients == ["ops@example.com", "admin@example.com"]
    with pytest.raises(pydantic.ValidationError):
        mail(recipients=[])


def test_email_defaults_and_rules() -> None:
    cfg = mail(sender_name="  ")
    assert cfg.security == "starttls" and cfg.effective_port == 587
    assert cfg.verify_certificate is True and cfg.sender_name == "duplistatus"
    assert mail(security="tls").effective_port == 465
    assert mail(security="none").effective_port == 25
    assert mail(port=2525).effective_port == 2525
    with pytest.raises(pydantic.ValidationError, match="username and password are required"):
        mail(auth=True, username="u")
    with pytest.raises(pydantic.ValidationError, match="put the port in 'port'"):
        mail(host="smtp.example.com:587")
    with pytest.raises(pydantic.ValidationError):
        mail(security="ssl")
    assert mail(sender_name="Backup\r\nBcc: x@y").sender_name == "Backup Bcc: x@y"


# --- webhook ------------------------------------------------------------------------------


def test_webhook_secret_generated_stable_and_validated() -> None:
    cfg = webhook.Config(url="https://receiver.example/hook")
    assert cfg.secret.startswith("whsec_")
    assert webhook.Config.model_validate(cfg.model_dump()).secret == cfg.secret
    bare = cfg.secret.removeprefix("whsec_")
    assert webhook.Config(url="https://r.example/", secret=bare).secret == cfg.secret
    with pytest.raises(pydantic.ValidationError) as caught:
        webhook.Config(url="https://r.example/", secret="whsec_dG9vc2hvcnQ=")
    assert "24 to 64 random bytes" in str(caught.value)
    assert "dG9vc2hvcnQ" not in str(caught.value)  # pydantic must not echo the secret


def test_webhook_headers_validated_without_echoing_values() -> None:
    with pytest.raises(pydantic.ValidationError, match="set by duplistatus"):
        webhook.Config(url="https://r.example/", headers={"webhook-signature": "x"})
    with pytest.raises(pydantic.ValidationError) as caught:
        webhook.Config(url="https://r.example/", headers={"X-Key": "tok\nen-SECRET"})
    assert "single line" in str(caught.value) and "SECRET" not in str(caught.value)
    with pytest.raises(pydantic.ValidationError, match="not a valid HTTP header name"):
        webhook.Config(url="https://r.example/", headers={"Bad Header": "x"})
    with pytest.raises(pydantic.ValidationError):
        webhook.Config.model_validate({"url": "https://r.example/", "method": "DELETE"})
    patched = webhook.Config.model_validate({"url": "https://r.example/", "method": "patch"})
    assert patched.method == "PATCH"
