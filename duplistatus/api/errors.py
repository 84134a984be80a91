"""Every API error is JSON, and 503 only for what is transient.

Django answers an exception from a view with an HTML page, which no API client can read;
these handlers answer with `{"error": …}` instead: 503 when the database cannot be reached
(a caller may retry; Duplicati does), 500 for anything else (a bug: retrying will not help).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

log = logging.getLogger("django.request")

UNAVAILABLE = "database unavailable, try again later"


def is_transient(exc: BaseException) -> bool:
    """The database could not be reached or was busy: the same request may work later.
    A value the database refuses (DataError, IntegrityError, …) will be refused again."""
    return isinstance(exc, (OperationalError, InterfaceError))


def is_number_out_of_range(exc: BaseException) -> bool:
    """An id or count in the request too large for any row (SQLite refuses to bind it):
    the caller's to change, like a validation error."""
    return isinstance(exc, OverflowError) and "SQLite INTEGER" in str(exc)


def server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    if is_transient(exc):
        log.warning("%s %s: %s", request.method, request.path, exc)
        return JsonResponse({"error": UNAVAILABLE}, status=503)
    if is_number_out_of_range(exc):
        return JsonResponse({"error": "a number in the request is out of range"}, status=422)
    log.error("%s %s failed", request.method, request.path, exc_info=exc)
    response = JsonResponse({"error": "internal error (logged on the server)"}, status=500)
    response._has_been_logged = True  # type: ignore[attr-defined]  # logged above, with the cause
    return response


class JsonErrorsMiddleware:
    """What Django and django-ninja answer by themselves under /api/ (an unknown path, a
    method the path does not have) is an HTML page; API clients get it as JSON too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and request.path.startswith("/api/")
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            reason = response.reason_phrase.lower()
            as_json = JsonResponse({"error": reason}, status=response.status_code)
            if response.has_header("Allow"):
                as_json["Allow"] = response["Allow"]
            return as_json
        return response
