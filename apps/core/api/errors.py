"""JSON errors with a message and per-field details; never an HTML 500 for bad input."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            inner = _first_message(value)
            return inner if key in ("detail", "non_field_errors") else f"{key}: {inner}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, RequestDataTooBig):
        return Response({"error": "Request body is larger than 1 MB."}, status=413)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "message_dict") else exc.messages
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    body: dict[str, Any] = {"error": _first_message(detail)}
    if isinstance(exc, exceptions.ValidationError):
        body["error"] = "Invalid input."
        body["details"] = detail if isinstance(detail, dict) else {"non_field_errors": detail}
    elif isinstance(exc, exceptions.ParseError) and response.status_code == status.HTTP_400_BAD_REQUEST:
        body["error"] = f"Malformed request body: {_first_message(detail)}"
    response.data = body
    return response
