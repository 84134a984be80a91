"""Sending a notification as an e-mail over SMTP (stdlib ``smtplib``).

The mail is ``multipart/alternative``: the plain text body plus an HTML part (the message's
``body_html``, or the text escaped inside ``<pre>``). Headers: From ``"Name" <addr>``, To,
Subject, Date (the event's time, so a retry carries the same Date), Message-ID
``<{delivery_id}@duplistatus>`` (receivers and mail clients drop duplicates on it),
Content-Language (the channel's language), and ``Auto-Submitted: auto-generated`` so
vacation responders stay quiet.

Outcome classification, matching SMTP's own split between temporary (4xx) and permanent
(5xx) replies:

* permanent: wrong credentials, sender or all recipients refused with 5xx, other 5xx replies,
  a server without STARTTLS when it is required, certificate verification failures (the
  message suggests ``ca_file`` or ``verify_certificate``), other TLS handshake failures;
* transient: connection refused, DNS failures, timeouts, 4xx replies, dropped connections.

If some recipients are refused but at least one is accepted, the mail went out: the result
is a success whose detail lists the refused addresses (a retry would duplicate the mail for
everyone who got it).
"""

from __future__ import annotations

import base64
import html
import smtplib
import socket
import ssl
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Final

from ..base import (
    DeliveryError,
    Message,
    PermanentError,
    SendResult,
    TransientError,
    stable_token,
    view_label,
)
from .config import Config

MESSAGE_ID_DOMAIN: Final = "duplistatus"


def message_id(delivery_id: str) -> str:
    """The Message-ID header for a delivery: ``<{delivery_id}@duplistatus>``."""
    token = stable_token(delivery_id, allowed=r"-_A-Za-z0-9", max_length=200)
    return f"<{token}@{MESSAGE_ID_DOMAIN}>"


def _html_body(message: Message) -> str:
    if message.body_html:
        return message.body_html
    link = (
        f'<p><a href="{html.escape(message.click_url, quote=True)}">'
        f"{message.link_label or view_label(message.click_url)}</a></p>"
        if message.click_url
        else ""
    )
    lang = f' lang="{html.escape(message.language, quote=True)}"' if message.language else ""
    return (
        f'<!DOCTYPE html>\n<html{lang}><head><meta charset="utf-8">'
        f"<title>{html.escape(message.title)}</title></head><body>\n"
        '<pre style="font-family: ui-monospace, Menlo, Consolas, monospace; '
        f'white-space: pre-wrap">{html.escape(message.body)}</pre>\n{link}</body></html>\n'
    )


def build_email(config: Config, message: Message) -> EmailMessage:
    """The MIME message sent for ``message``."""
    mail = EmailMessage()
    mail["Subject"] = " ".join(message.title.split())  # a newline would end the header
    mail["From"] = Address(display_name=config.sender_name, addr_spec=config.from_address)
    mail["To"] = ", ".join(config.recipients)
    created = message.created_at or datetime.now(UTC)
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    mail["Date"] = format_datetime(created)
    mail["Message-ID"] = message_id(message.delivery_id)
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-Auto-Response-Suppress"] = "All"  # Exchange's spelling of "no auto-replies"
    if message.priority >= 4:
        mail["X-Priority"] = "1 (Highest)" if message.priority == 5 else "2 (High)"
        mail["Importance"] = "high"
    # Quoted-printable keeps every line 7-bit, so servers without 8BITMIME take it too.
    mail.set_content(message.body, cte="quoted-printable")
    mail.add_alternative(_html_body(message), subtype="html", cte="quoted-printable")
    if message.language:  # after the parts are made: they would take Content-* headers along
        mail["Content-Language"] = message.language
    return mail


def _tls_context(config: Config) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if config.ca_file:
        try:
            # In addition to the system CAs: a private CA for the mail server.
            context.load_verify_locations(cafile=config.ca_file)
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise PermanentError(f"cannot load ca_file {config.ca_file!r}: {reason}") from None
    if not config.verify_certificate:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _secrets(config: Config) -> list[str | None]:
    found: list[str | None] = [config.password]
    if config.password:
        # AUTH LOGIN and AUTH PLAIN put these on the wire; keep them out of errors too.
        found.append(base64.b64encode(config.password.encode()).decode())
        plain = f"\0{config.username or ''}\0{config.password}".encode()
        found.append(base64.b64encode(plain).decode())
    return found


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {' '.join(text.split())}".strip()


def _by_code(code: int, text: str) -> DeliveryError:
    """SMTP's own rule: 4xx is temporary, everything else that is not success is permanent."""
    return TransientError(text) if 400 <= code < 500 else PermanentError(text)


def _transmit(smtp: smtplib.SMTP, config: Config, mail: EmailMessage, where: str) -> SendResult:
    code, text = smtp.mail(config.from_address)
    if code != 250:
        reply = _reply(code, text)
        raise _by_code(code, f"{where} refused the sender {config.from_address}: {reply}")
    refused: dict[str, tuple[int, str]] = {}
    for recipient in config.recipients:
        code, text = smtp.rcpt(recipient)
        if code not in (250, 251):
            refused[recipient] = (code, _reply(code, text))
    listing = "; ".join(f"{address} ({reply})" for address, (_, reply) in refused.items())
    if len(refused) == len(config.recipients):
        smtp.rset()
        temporary = all(400 <= code < 500 for code, _ in refused.values())
        error = f"{where} refused all recipients: {listing}"
        raise TransientError(error) if temporary else PermanentError(error)
    code, text = smtp.data(mail.as_bytes(policy=policy.SMTP))  # raises SMTPDataError if not 250
    detail = _reply(code, text)
    if refused:
        detail += f"; refused: {listing}"
    return SendResult(detail)


def _close(smtp: smtplib.SMTP) -> None:
    # The mail is already accepted (or the error already known): a failing QUIT changes nothing.
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        smtp.close()


def _classify(exc: BaseException, config: Config, where: str, timeout: float) -> DeliveryError:
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        reply = _reply(exc.smtp_code, exc.smtp_error)
        return _by_code(exc.smtp_code, f"{where} rejected the username or password ({reply})")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        hint = "; try 'starttls' or 'tls'" if config.security == "none" else ""
        return PermanentError(f"{where} does not offer authentication (AUTH){hint}")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        listing = "; ".join(f"{a} ({_reply(c, t)})" for a, (c, t) in exc.recipients.items())
        temporary = all(400 <= c < 500 for c, _ in exc.recipients.values())
        text = f"{where} refused all recipients: {listing}"
        return TransientError(text) if temporary else PermanentError(text)
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return _by_code(
            exc.smtp_code, f"{where} refused the sender: {_reply(exc.smtp_code, exc.smtp_error)}"
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return _by_code(exc.smtp_code, f"{where} answered {_reply(exc.smtp_code, exc.smtp_error)}")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return TransientError(f"{where} closed the connection unexpectedly")
    if isinstance(exc, smtplib.SMTPException):
        return PermanentError(f"{where}: {exc}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or exc.reason or "certificate not trusted"
        return PermanentError(
            f"TLS certificate verification failed for {where}: {reason}. If the server uses a "
            "self-signed or private certificate, set ca_file to its CA certificate, or turn "
            "off verify_certificate"
        )
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return TransientError(f"{where} closed the connection during the TLS handshake")
    if isinstance(exc, ssl.SSLError):
        return PermanentError(
            f"TLS with {where} failed ({exc.reason or exc}); check the connection type: "
            "port 465 usually needs 'tls', ports 587 and 25 'starttls'"
        )
    if isinstance(exc, TimeoutError):
        return TransientError(f"{where} did not answer within {timeout:g} s")
    if isinstance(exc, ConnectionRefusedError):
        return TransientError(f"could not connect to {where}: connection refused")
    if isinstance(exc, socket.gaierror):
        return TransientError(f"could not resolve the host name of {where}: {exc.strerror}")
    if isinstance(exc, OSError):
        return TransientError(f"could not talk to {where}: {exc.strerror or exc}")
    raise exc


def send_email(config: Config, message: Message, *, timeout: float = 15.0) -> SendResult:
    """Send ``message`` to all recipients; raise TransientError/PermanentError on failure."""
    timeout = config.timeout or timeout
    port = config.effective_port
    host = f"[{config.host}]" if ":" in config.host else config.host
    where = f"the SMTP server {host}:{port}"
    secrets = _secrets(config)
    mail = build_email(config, message)
    context = _tls_context(config) if config.security != "none" else None
    try:
        smtp: smtplib.SMTP
        if config.security == "tls":
            smtp = smtplib.SMTP_SSL(config.host, port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(config.host, port, timeout=timeout)
        try:
            smtp.ehlo_or_helo_if_needed()
            if config.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise PermanentError(
                        f"{where} does not offer STARTTLS; choose 'tls' (usually port 465) "
                        "or, on a trusted network only, 'none'"
                    )
                smtp.starttls(context=context)
                smtp.ehlo()
            if config.auth and config.username and config.password:
                smtp.login(config.username, config.password)
            return _transmit(smtp, config, mail, where)
        finally:
            _close(smtp)
    except DeliveryError as failure:
        failure.redact_secrets(secrets)
        raise
    except (smtplib.SMTPException, OSError) as exc:
        raise _classify(exc, config, where, timeout).redact_secrets(secrets) from None
