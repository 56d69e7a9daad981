"""Project middleware that keeps Django's own error pages out of reach: a bad Host header is a plain 400 (Django
renders its debug page for one when DEBUG is on), a NUL character in the path or a query parameter is a 400 naming
where it was (PostgreSQL cannot store one, so no view should ever see it), and a database outage outside the API is a
503 with Retry-After, as inside it (shopsearch.api.errors). Error reports mask connection URLs."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.views.debug import SafeExceptionReporterFilter

from shopsearch.api.errors import DATABASE_ERRORS, database_unavailable_response


class MalformedRequestMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            request.get_host()
        except DisallowedHost:
            return HttpResponseBadRequest("Bad Request: this site does not serve that Host.", content_type="text/plain")
        where = _nul_character(request)
        if where:
            return JsonResponse({"detail": f"{where}: Null characters are not allowed."}, status=400)
        return self.get_response(request)


def _nul_character(request: HttpRequest) -> str | None:
    """Where the request has a NUL character: "path", or the name of the query parameter."""
    if "\x00" in request.path:
        return "path"
    for name, values in request.GET.lists():
        if "\x00" in name or any("\x00" in value for value in values):
            return repr(name) if "\x00" in name else name
    return None


class DatabaseOutageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return database_unavailable_response(exception) if isinstance(exception, DATABASE_ERRORS) else None


class ExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's error reports (its DEBUG page, the admins' e-mails) with connection URLs masked too: they carry
    passwords under names Django's own filter lets through (DATABASE_URL, REDIS_URL, CELERY_BROKER_URL)."""

    hidden_settings = re.compile("API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|URL|DSN|DATABASE", flags=re.I)
