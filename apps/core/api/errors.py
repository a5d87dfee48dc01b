"""JSON errors for the API: `{"error": "<message>", "details": {field: [messages]}}`.

Every error has both keys (details is `{}` when there is nothing per field), so clients can
parse one shape. Bad input is never an HTML page or a 500."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger("switchboard.api")

TOO_BIG = "Request body is larger than 1 MB."


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            inner = _first_message(value)
            return inner if key in ("detail", "non_field_errors") else f"{key}: {inner}"
        return ""
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def _details(detail: Any) -> dict[str, Any]:
    if isinstance(detail, dict):
        return detail
    return {"non_field_errors": detail if isinstance(detail, list) else [detail]}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, RequestDataTooBig):
        return Response({"error": TOO_BIG, "details": {}}, status=413)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "message_dict") else exc.messages
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        if settings.DEBUG:
            return None  # Django's debug page is more useful to the developer
        logger.exception("Unhandled API error", exc_info=exc)
        return Response(
            {"error": "Internal server error; the failure was logged.", "details": {}},
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    detail = response.data
    if isinstance(exc, exceptions.ValidationError):
        body = {"error": "Invalid input.", "details": _details(detail)}
    elif isinstance(exc, exceptions.ParseError):
        body = {"error": f"Malformed request body: {_first_message(detail)}", "details": {}}
    else:
        body = {"error": _first_message(detail), "details": {}}
    response.data = body
    return response


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404: an unknown /api/ path is a JSON 404 like every other API error."""
    if _is_api(request):
        return JsonResponse({"error": "No such API endpoint.", "details": {}}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: failures outside DRF views (middleware, URL resolving) stay JSON under /api/."""
    if _is_api(request):
        return JsonResponse(
            {"error": "Internal server error; the failure was logged.", "details": {}}, status=500
        )
    return defaults.server_error(request)
