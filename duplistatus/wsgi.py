"""The Django WSGI app; `serve` runs it behind duplistatus.edge (see duplistatus.asgi).

`POST /api/upload` takes a shorter path through the same Django: only the middleware in
settings.UPLOAD_MIDDLEWARE, then the usual URL resolution and view."""

import gc
import os

from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application
from django.urls import resolve
from django.utils.module_loading import import_string

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "duplistatus.settings")
django_application = get_wsgi_application()


class UploadHandler(WSGIHandler):
    """Django's WSGI handler with settings.UPLOAD_MIDDLEWARE instead of MIDDLEWARE."""

    def load_middleware(self, is_async: bool = False) -> None:
        from django.conf import settings

        self._view_middleware: list = []
        self._template_response_middleware: list = []
        self._exception_middleware: list = []
        handler = convert_exception_to_response(self._get_response)
        for path in reversed(settings.UPLOAD_MIDDLEWARE):
            handler = convert_exception_to_response(import_string(path)(handler))
        self._middleware_chain = handler


upload_application = UploadHandler()


def application(environ, start_response):  # type: ignore[no-untyped-def]
    if environ.get("PATH_INFO") == "/api/upload" and environ.get("REQUEST_METHOD") == "POST":
        return upload_application(environ, start_response)
    return django_application(environ, start_response)


# The URL patterns now rather than in the first request (their import is most of what a
# request needs that start-up has not loaded yet), so that they are frozen below too.
resolve("/api/upload")

# What is loaded by now lives as long as the process. Out of the collector's sight it no
# longer makes each full collection take ~60 ms, which was the slowest upload in a thousand
# (bench/ingest.py). No collection first: at this point it took 40-70 ms of every start
# and found ~100 unreachable objects.
gc.freeze()

if os.environ.get("DUPLISTATUS_INPROCESS_WORKER") == "1":
    from duplistatus.worker import start_in_background

    start_in_background()
