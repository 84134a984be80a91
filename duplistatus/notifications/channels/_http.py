"""One HTTP request for the HTTP-based kinds (ntfy, webhook), with transport errors classified.

Only the host (and port) of a URL ever appears in an error: paths and query strings of
webhook-style URLs often embed tokens.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .base import PermanentError, TransientError, classify_http_status, redact

if TYPE_CHECKING:
    import httpx  # imported where used: at import time it cost every start of `serve`

#: Replies are only read for their status and a short error text; cap what we hold in memory.
MAX_REPLY_BYTES = 64 * 1024


@dataclass(frozen=True)
class HttpReply:
    status: int
    headers: httpx.Headers
    body: bytes


def host_of(url: str) -> str:
    """``host[:port]`` of ``url``, for error messages that must not leak paths or credentials."""
    import httpx

    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "the configured URL"
    host = parsed.host or "the configured URL"
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{host}:{parsed.port}" if parsed.port else host


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    import httpx

    # httpx's default trust (certifi, or SSL_CERT_FILE/SSL_CERT_DIR), built once: loading the
    # CA bundle for every request would cost more than the request itself.
    return httpx.create_ssl_context()


@functools.cache
def _client() -> httpx.Client:
    import httpx

    # One client for all sends, so connections to the same receiver are kept alive and
    # reused: opening and closing a connection per message costs more than the message.
    # httpx clients are safe to share between threads.
    return httpx.Client(
        follow_redirects=False,
        verify=_ssl_context(),
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
    )


def _certificate_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind an httpx error, if that is what it was."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        current = current.__cause__ or current.__context__
    # httpcore re-raises with the SSL error's text but without chaining it in some versions.
    if "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return ssl.SSLCertVerificationError(str(exc))
    return None


def request(
    method: str,
    url: str,
    *,
    content: bytes,
    headers: Mapping[str, str],
    timeout: float,
    service: str,
    secrets: Iterable[str | None] = (),
) -> HttpReply:
    """Send one request and return the reply, whatever its status.

    Transport failures raise a DeliveryError; the caller judges the status, usually with
    :func:`classify_http_status` (which :func:`send` does for it). ``timeout`` applies to
    each phase (connect, write, read) separately, as httpx does. Redirects are not followed.
    """
    import httpx

    secrets = list(secrets)
    where = f"{service} at {host_of(url)}"
    try:
        with _client().stream(
            method, url, content=content, headers=dict(headers), timeout=timeout
        ) as response:
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) >= MAX_REPLY_BYTES:
                    break
            reply = HttpReply(response.status_code, response.headers, body)
    except httpx.TimeoutException:
        raise TransientError(f"{where} did not answer within {timeout:g} s") from None
    except httpx.ConnectError as exc:
        certificate = _certificate_error(exc)
        if certificate is not None:
            reason = getattr(certificate, "verify_message", None) or "certificate not trusted"
            raise PermanentError(
                redact(f"TLS certificate verification failed for {where}: {reason}", secrets)
            ) from None
        raise TransientError(redact(f"could not connect to {where}: {exc}", secrets)) from None
    except (httpx.UnsupportedProtocol, httpx.InvalidURL, httpx.LocalProtocolError) as exc:
        # A URL or header the client cannot even send: only a configuration change fixes it.
        raise PermanentError(redact(f"cannot send to {where}: {exc}", secrets)) from None
    except httpx.HTTPError as exc:
        # Connection dropped mid-request, malformed reply, proxy trouble: worth another try.
        detail = str(exc) or type(exc).__name__
        raise TransientError(redact(f"{where} failed: {detail}", secrets)) from None
    return reply


def send(
    method: str,
    url: str,
    *,
    content: bytes,
    headers: Mapping[str, str],
    timeout: float,
    service: str,
    secrets: Iterable[str | None] = (),
) -> HttpReply:
    """:func:`request`, then raise the matching DeliveryError unless the status is 2xx."""
    secrets = list(secrets)
    reply = request(
        method,
        url,
        content=content,
        headers=headers,
        timeout=timeout,
        service=service,
        secrets=secrets,
    )
    classify_http_status(
        reply.status,
        reply.headers,
        reply.body,
        service=f"{service} at {host_of(url)}",
        secrets=secrets,
    )
    return reply
