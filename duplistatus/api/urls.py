from django.http import HttpRequest, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from . import collect, compat, errors, maintenance, notify, rules, templates, v1  # noqa: F401 (maintenance: see there)
from .auth import TokenAuth

api = NinjaAPI(
    title="duplistatus",
    version="1",
    description=(
        "Duplicati backup monitoring. `/api/upload`, `/api/summary`, `/api/lastbackup(s)` and "
        "`/api/health` are compatible with the original duplistatus; `/api/v1/` is our own "
        "API and takes `Authorization: Bearer <token>` (see `duplistatus token create`)."
    ),
    docs_url="/docs",
    auth=TokenAuth(),
    urls_namespace="api",
)
api.add_exception_handler(Exception, errors.server_error)
api.add_router("/", compat.router)
api.add_router("/v1/", v1.router)
api.add_router("/v1/", notify.router)
api.add_router("/v1/", rules.router)
api.add_router("/v1/", templates.router)
api.add_router("/v1/", collect.router)


@api.exception_handler(AuthenticationError)
def _unauthorized(request: HttpRequest, exc: Exception) -> JsonResponse:
    return api.create_response(
        request,
        {"error": "authentication required: send Authorization: Bearer <token>"},
        status=401,
    )


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> JsonResponse:
    return api.create_response(request, {"error": str(exc)}, status=exc.status_code)


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> JsonResponse:
    return api.create_response(
        request, {"error": "invalid request", "detail": exc.errors}, status=422
    )
