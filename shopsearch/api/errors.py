"""Every API error is JSON with a `detail` message; validation errors also keep DRF's per-field messages, so the
message names the parameter. A shopsearch domain error (exceptions.py) answers with its class's `status_code`. A
database that cannot be reached is a 503 with Retry-After (the next request
connects again: nothing needs a restart). Unexpected errors still become a JSON 500 without a traceback."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..exceptions import ShopsearchError

logger = logging.getLogger("shopsearch")

# Connection-level failures (server down, restarting, out of connections); errors of a query itself are bugs (500).
DATABASE_ERRORS = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 5


def database_unavailable_response(exc: Exception) -> JsonResponse:
    """503 for a database that cannot be reached, logged in one line (the traceback says nothing more)."""
    logger.warning(
        "shopsearch: the database cannot be reached, answering 503: %s",
        str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
    )
    response = JsonResponse(
        {"detail": f"The database is unavailable; try again in {RETRY_AFTER_SECONDS} seconds."}, status=503
    )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def exception_handler(exc, context):
    if isinstance(exc, DATABASE_ERRORS):
        return database_unavailable_response(exc)
    if isinstance(exc, RequestDataTooBig):  # Django's body limit: the client's fault, not a 500
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response(
            {"detail": f"The request body is larger than {limit} bytes; send less per request."},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, ShopsearchError):
        return Response({"detail": str(exc)}, status=exc.status_code)
    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("shopsearch: unexpected error in %s", context.get("view").__class__.__name__)
        return Response({"detail": "Internal error; it has been logged."}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    if isinstance(exc, ValidationError) and not (isinstance(response.data, dict) and "detail" in response.data):
        response.data = {"detail": "; ".join(_messages(response.data)), "errors": response.data}
    return response


def _messages(errors, path: str = "") -> list[str]:
    """'field: message' lines from DRF's nested errors; nested fields and list items read `events[3].type`."""
    if isinstance(errors, dict):
        return [
            line
            for key, value in errors.items()
            for line in _messages(
                value,
                path
                if key == "non_field_errors"
                else f"{path}[{key}]"
                if isinstance(key, int)
                else f"{path}.{key}"
                if path
                else str(key),
            )
        ]
    if isinstance(errors, list) and all(isinstance(error, str) for error in errors):
        return [f"{path}: {' '.join(errors)}" if path else " ".join(errors)]
    if isinstance(errors, list):
        return [line for index, error in enumerate(errors) if error for line in _messages(error, f"{path}[{index}]")]
    return [f"{path}: {errors}" if path else str(errors)]
