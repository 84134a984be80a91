"""Which language a page is in. In order: the signed-in user's own choice (the account
page), the sign-in page's picker (a cookie, set by Django's `set_language`), the browser's
Accept-Language, DUPLISTATUS_LANGUAGE, English. Django's LocaleMiddleware does all but the
first; `user_language`, after authentication, does the first."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from .models import Preference


def saved_language(user: object) -> str:
    """The user's chosen language code, or "" to follow the browser."""
    if not getattr(user, "is_authenticated", False):
        return ""
    code = (
        Preference.objects.filter(user_id=user.pk)  # type: ignore[attr-defined]
        .values_list("language", flat=True)
        .first()
    )
    # A language since removed from LANGUAGES: as if none were chosen.
    return code if code in dict(settings.LANGUAGES) else ""


def user_language(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable:
    def middleware(request: HttpRequest) -> HttpResponse:
        code = saved_language(request.user)
        if code:
            translation.activate(code)
            request.LANGUAGE_CODE = code  # type: ignore[attr-defined]
        return get_response(request)

    return middleware


def remember_in_cookie(response: HttpResponse, code: str) -> None:
    """The sign-in page (after signing out, or in a new session) speaks the language the
    user chose; "" removes the cookie, so the browser's language applies again."""
    if not code:
        response.delete_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            path=settings.LANGUAGE_COOKIE_PATH,
            domain=settings.LANGUAGE_COOKIE_DOMAIN,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,
        )
        return
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        code,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )


def use_now(request: HttpRequest, code: str) -> None:
    """Speak `code` for the rest of this request (the message a page sets before it
    redirects); "" is the browser's language, as the next request will find it once the
    cookie is gone."""
    if not code:
        request.COOKIES.pop(settings.LANGUAGE_COOKIE_NAME, None)
        code = translation.get_language_from_request(request)
    translation.activate(code)
    request.LANGUAGE_CODE = code  # type: ignore[attr-defined]
