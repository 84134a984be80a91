"""Every API error is JSON, and 503 only for what is transient.

Django answers an exception from a view with an HTML page, which no API client can read;
these handlers answer with `{"error": …}` instead: 503 when the database cannot be reached
(a caller may retry; Duplicati does), 500 for anything else (a bug: retrying will not help).
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

log = logging.getLogger("django.request")

UNAVAILABLE = "database unavailable, try again later"


def is_transient(exc: BaseException) -> bool:
    """The database could not be reached or was busy: the same request may work later.
    A value the database refuses (DataError, IntegrityError, …) will be refused again."""
    return isinstance(exc, (OperationalError, InterfaceError))


def server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    if is_transient(exc):
        log.warning("%s %s: %s", request.method, request.path, exc)
        return JsonResponse({"error": UNAVAILABLE}, status=503)
    log.error("%s %s failed", request.method, request.path, exc_info=exc)
    return JsonResponse({"error": "internal error (logged on the server)"}, status=500)
