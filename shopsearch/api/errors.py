"""Every API error is JSON with a `detail` message; validation errors also keep DRF's per-field messages, so the
message names the parameter. Unexpected errors still become a JSON 500 without a traceback."""
from __future__ import annotations

import logging

from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger("shopsearch")


def exception_handler(exc, context):
    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("shopsearch: unexpected error in %s", context.get("view").__class__.__name__)
        return Response({"detail": "Internal error; it has been logged."}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    if isinstance(exc, ValidationError) and isinstance(response.data, dict) and "detail" not in response.data:
        messages = [f"{name}: {' '.join(map(str, errs if isinstance(errs, list) else [errs]))}" for name, errs in response.data.items()]
        response.data = {"detail": "; ".join(messages), "errors": response.data}
    return response
