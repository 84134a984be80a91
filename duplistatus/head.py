"""HEAD is answered wherever GET is, with GET's status and headers and no body.

Uptime checkers, and the original duplistatus' own test-data tool, send `HEAD /api/health`
before anything else and give up on a 405. Django's function views answer any method, but
django-ninja routes only the methods an operation names, so its GET operations refused HEAD.
Answering HEAD as GET here, for the whole site, keeps one way for every page and endpoint.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase


def head_as_get(
    get_response: Callable[[HttpRequest], HttpResponseBase],
) -> Callable[[HttpRequest], HttpResponseBase]:
    def middleware(request: HttpRequest) -> HttpResponseBase:
        if request.method != "HEAD":
            return get_response(request)
        request.method = "GET"
        try:
            response = get_response(request)
        finally:
            request.method = "HEAD"
        # GET's headers stay, Content-Length included (it is the size a GET would get).
        if response.streaming:
            response.streaming_content = []  # type: ignore[attr-defined]
        else:
            response.content = b""  # type: ignore[attr-defined]
        return response

    return middleware
