"""Behind a reverse proxy: whom to believe about the client.

Every request reaches us from the proxy, so REMOTE_ADDR is the proxy's address (the login
lockout would lock everyone at once) and the scheme is the proxy's (http, so the CSRF check
refuses an https page's forms). Proxies say what they saw in `X-Forwarded-For` and
`X-Forwarded-Proto`, but anyone can send those headers, so they are believed only from the
addresses in DUPLISTATUS_TRUSTED_PROXIES (settings.TRUSTED_PROXIES) and dropped from any
other sender.

From a trusted proxy, the client is the right-most address in X-Forwarded-For that is not a
trusted proxy itself (what is left of it was written by whoever the client is, and proves
nothing), and the scheme is what the proxy nearest to us says.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:  # settings.py imports this module: nothing of Django's that needs them
    from django.http import HttpRequest, HttpResponse

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

FORWARDED_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO")


def parse_networks(text: str) -> list[Network]:
    """'10.0.0.1, 172.16.0.0/12, ::1' as networks; ValueError names the one that is not."""
    networks = []
    for item in text.replace(" ", ",").split(","):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(
                f"DUPLISTATUS_TRUSTED_PROXIES: {item!r} is neither an IP address nor a network"
            ) from None
    return networks


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip().removeprefix("[").split("]")[0])
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped:  # ::ffff:10.0.0.1 from a dual-stack socket
        ip = ip.ipv4_mapped
    return any(ip in network for network in proxies)


def client_address(peer: str, forwarded_for: str, proxies: Sequence[Network]) -> str:
    """The client's address: the peer's own, unless the peer is a trusted proxy."""
    if not _trusted(peer, proxies):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer


class TrustedProxyMiddleware:
    """Sets REMOTE_ADDR to the client's address and keeps X-Forwarded-Proto only from a
    trusted proxy (Django reads it through SECURE_PROXY_SSL_HEADER). First in MIDDLEWARE."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        meta = request.META
        proxies = settings.TRUSTED_PROXIES
        peer = meta.get("REMOTE_ADDR", "")
        if proxies and _trusted(peer, proxies):
            meta["REMOTE_ADDR"] = client_address(
                peer, meta.get("HTTP_X_FORWARDED_FOR", ""), proxies
            )
            proto = meta.get("HTTP_X_FORWARDED_PROTO", "").split(",")[-1].strip().lower()
            if proto:
                meta["HTTP_X_FORWARDED_PROTO"] = proto
        else:
            for header in FORWARDED_HEADERS:
                meta.pop(header, None)
        return self.get_response(request)
