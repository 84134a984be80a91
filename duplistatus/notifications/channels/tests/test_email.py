"""The e-mail kind against real aiosmtpd servers: STARTTLS + AUTH, implicit TLS, plain."""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from .. import email as email_kind
from ..base import PermanentError, TransientError
from ._support import error_texts, make_message
from .peers import PASSWORD, USER, Mailbox, Pki, StartServer, authenticator

pytestmark = pytest.mark.timeout(30)


def config(port: int, **overrides: Any) -> email_kind.Config:
    return email_kind.Config.model_validate(
        {
            "host": "127.0.0.1",
            "port": port,
            "security": "none",
            "from_address": "duplistatus@example.com",
            "recipients": ["ops@example.com", "Admin@Example.com"],
            **overrides,
        }
    )


def starttls_server(start: StartServer, pki: Pki) -> tuple[Mailbox, int]:
    return start(
        tls_context=pki.server_context,
        require_starttls=True,
        authenticator=authenticator,
        auth_require_tls=True,
    )


def test_starttls_with_auth_delivers_text_and_html(smtp_server: StartServer, pki: Pki) -> None:
    mailbox, port = starttls_server(smtp_server, pki)
    cfg = config(
        port,
        security="starttls",
        ca_file=str(pki.ca_file),
        auth=True,
        username=USER,
        password=PASSWORD,
        sender_name="Backup Monitor",
    )
    message = make_message()

    result = email_kind.channel.send(cfg, message, timeout=10)

    assert result.detail == "250 2.0.0 Ok: queued as 4F2A1"
    [envelope] = mailbox.envelopes
    assert envelope.mail_from == "duplistatus@example.com"
    assert envelope.rcpt_tos == ["ops@example.com", "Admin@Example.com"]
    [mail] = mailbox.messages()
    assert mail["From"] == "Backup Monitor <duplistatus@example.com>"
    assert mail["To"] == "ops@example.com, Admin@Example.com"
    assert mail["Subject"] == message.title
    assert mail["Message-ID"] == f"<{message.delivery_id}@duplistatus>"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["Date"] == "Sun, 01 Mar 2026 12:30:00 +0000"
    assert mail["X-Priority"] is None  # priority 3: no urgency headers
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    # On the wire lines end in CRLF; compare the text itself.
    assert text.get_content().replace("\r\n", "\n").rstrip("\n") == message.body
    html_content = html.get_content()
    assert "<pre" in html_content and "2 errors, 0 warnings." in html_content
    assert 'href="https://duplistatus.example/jobs/42"' in html_content


def test_html_body_is_used_when_given(smtp_server: StartServer) -> None:
    mailbox, port = smtp_server()
    html = "<h1>Backup failed</h1><p>Ünïcode ✓</p>"
    email_kind.channel.send(
        config(port), make_message(body_html=html, title="Fehler ✗", priority=5), timeout=10
    )
    [mail] = mailbox.messages()
    assert mail["Subject"] == "Fehler ✗"
    assert mail["X-Priority"] == "1 (Highest)"
    html_part = mail.get_body(("html",))
    assert html_part is not None and html_part.get_content().strip() == html


def test_wrong_password_is_permanent(smtp_server: StartServer, pki: Pki) -> None:
    _, port = starttls_server(smtp_server, pki)
    wrong = "not-the-password-123"
    cfg = config(
        port,
        security="starttls",
        ca_file=str(pki.ca_file),
        auth=True,
        username=USER,
        password=wrong,
    )
    with pytest.raises(PermanentError) as caught:
        email_kind.channel.send(cfg, make_message(), timeout=10)
    assert "rejected the username or password (535" in caught.value.message
    assert wrong not in error_texts(caught.value)


def test_untrusted_certificate_is_permanent_and_suggests_the_fixes(
    smtp_server: StartServer, pki: Pki
) -> None:
    _, port = starttls_server(smtp_server, pki)
    cfg = config(port, security="starttls", auth=True, username=USER, password=PASSWORD)
    with pytest.raises(PermanentError) as caught:
        email_kind.channel.send(cfg, make_message(), timeout=10)
    text = caught.value.message
    assert "certificate verification failed" in text
    assert "ca_file" in text and "verify_certificate" in text
    assert PASSWORD not in error_texts(caught.value)


def test_verification_opt_out_accepts_self_signed(smtp_server: StartServer, pki: Pki) -> None:
    mailbox, port = starttls_server(smtp_server, pki)
    cfg = config(
        port,
        security="starttls",
        verify_certificate=False,
        auth=True,
        username=USER,
        password=PASSWORD,
    )
    assert email_kind.channel.send(cfg, make_message(), timeout=10).detail.startswith("250")
    assert len(mailbox.envelopes) == 1


def test_implicit_tls(smtp_server: StartServer, pki: Pki) -> None:
    mailbox, port = smtp_server(ssl_context=pki.server_context)
    cfg = config(port, security="tls", ca_file=str(pki.ca_file))
    result = email_kind.channel.send(cfg, make_message(), timeout=10)
    assert result.detail.startswith("250 ")
    assert mailbox.messages()[0]["Message-ID"] == f"<{make_message().delivery_id}@duplistatus>"


def test_implicit_tls_untrusted_is_permanent(smtp_server: StartServer, pki: Pki) -> None:
    _, port = smtp_server(ssl_context=pki.server_context)
    with pytest.raises(PermanentError, match="certificate verification failed"):
        email_kind.channel.send(config(port, security="tls"), make_message(), timeout=10)


def test_plain_without_auth(smtp_server: StartServer) -> None:
    mailbox, port = smtp_server()
    result = email_kind.channel.send(config(port), make_message(), timeout=10)
    assert result.detail == "250 2.0.0 Ok: queued as 4F2A1"
    assert len(mailbox.messages()) == 1


def test_starttls_missing_on_server_is_permanent(smtp_server: StartServer) -> None:
    _, port = smtp_server()  # no tls_context: the server does not offer STARTTLS
    with pytest.raises(PermanentError, match="does not offer STARTTLS"):
        email_kind.channel.send(config(port, security="starttls"), make_message(), timeout=10)


def test_tls_against_a_plain_port_is_permanent(smtp_server: StartServer) -> None:
    _, port = smtp_server()
    with pytest.raises(PermanentError, match="check the connection type"):
        email_kind.channel.send(config(port, security="tls"), make_message(), timeout=5)


def test_some_recipients_refused_still_delivers(smtp_server: StartServer) -> None:
    mailbox, port = smtp_server()
    mailbox.refuse["Admin@Example.com"] = "550 5.1.1 no such user"
    result = email_kind.channel.send(config(port), make_message(), timeout=10)
    assert result.detail.startswith("250 ")
    assert "refused: Admin@Example.com (550 5.1.1 no such user)" in result.detail
    assert mailbox.envelopes[0].rcpt_tos == ["ops@example.com"]


def test_all_recipients_refused_is_permanent(smtp_server: StartServer) -> None:
    mailbox, port = smtp_server()
    mailbox.refuse = {"ops@example.com": "550 nope", "Admin@Example.com": "553 nope"}
    with pytest.raises(PermanentError, match="refused all recipients"):
        email_kind.channel.send(config(port), make_message(), timeout=10)
    assert mailbox.envelopes == []


def test_temporarily_refused_recipients_are_transient(smtp_server: StartServer) -> None:
    mailbox, port = smtp_server()
    mailbox.refuse = {"ops@example.com": "451 4.7.1 greylisted", "Admin@Example.com": "450 busy"}
    with pytest.raises(TransientError, match="451 4.7.1 greylisted"):
        email_kind.channel.send(config(port), make_message(), timeout=10)


def test_closed_port_is_transient(closed_port: int) -> None:
    with pytest.raises(TransientError, match="connection refused"):
        email_kind.channel.send(config(closed_port), make_message(), timeout=5)


def test_missing_ca_file_is_permanent(smtp_server: StartServer, tmp_path: Any) -> None:
    _, port = smtp_server()
    cfg = config(port, security="starttls", ca_file=str(tmp_path / "nope.pem"))
    with pytest.raises(PermanentError, match="cannot load ca_file"):
        email_kind.channel.send(cfg, make_message(), timeout=5)


def test_ssl_module_sanity(pki: Pki) -> None:
    # The CA file really is what makes the difference in the tests above.
    context = ssl.create_default_context(cafile=str(pki.ca_file))
    assert context.cert_store_stats()["x509_ca"] == 1
