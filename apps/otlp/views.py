"""POST /v1/logs, /v1/metrics, /v1/traces (and the same under /api/v1/otlp/): the OTLP/HTTP
intake, answering as the OTLP specification asks.

- 200 with an Export*ServiceResponse in the request's encoding; `partial_success` counts the
  records refused for impossible figures (the rest is stored).
- 400 a body that does not decode, 401 no or an unknown key, 403 a read-only key, 405 not a
  POST, 413 a body over OTLP_MAX_BODY_BYTES (compressed or not), 415 another content type or
  encoding, 429 over the key's write rate with Retry-After, 503 with Retry-After when the
  database is busy. Errors carry a google.rpc.Status in the request's encoding.
Authentication is the project key (`Authorization: Bearer sbk_...`, what
OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20sbk_... sends); the project is the key's."""

from __future__ import annotations

import json
import logging
import math

from django.conf import settings
from django.db import DatabaseError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from google.protobuf import json_format
from google.rpc import status_pb2

from apps.core.api.throttles import WriteKeyThrottle
from apps.otlp.decode import JSON, OtlpError, encode_response, inflate, media_type, parse
from apps.otlp.mappers import MAPPERS
from apps.otlp.store import facts_store
from apps.projects.authentication import note_key_use, verified_key
from apps.projects.models import KEY_PREFIX

log = logging.getLogger(__name__)
# google.rpc.Code values for the Status body.
_CODES = {400: 3, 401: 16, 403: 7, 405: 12, 413: 3, 415: 3, 429: 8, 503: 14}


def _status(error: OtlpError, content_type: str) -> HttpResponse:
    status = status_pb2.Status(code=_CODES.get(error.status, 2), message=error.message)
    if media_type(content_type) == JSON:
        body, kind = json.dumps(json_format.MessageToDict(status)).encode(), JSON
    else:
        body, kind = status.SerializeToString(), "application/x-protobuf"
    response = HttpResponse(body, status=error.status, content_type=kind)
    if error.retry_after is not None:
        response["Retry-After"] = str(error.retry_after)
    if error.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="switchboard"'
    if error.status == 405:
        response["Allow"] = "POST"
    return response


def _key(request: HttpRequest):  # noqa: ANN202 (an ApiKey)
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, raw = header.partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw:
        raise OtlpError(401, "An API key is required: set OTEL_EXPORTER_OTLP_HEADERS="
                             "'Authorization=Bearer sbk_...' (a project key).")
    key = verified_key(raw) if raw.startswith(KEY_PREFIX) else None
    if key is None:
        raise OtlpError(401, "Unknown or revoked API key.")
    if not key.can_write:
        raise OtlpError(403, "This API key is read-only: OTLP needs a read-and-write key.")
    wait = WriteKeyThrottle.over_limit(WriteKeyThrottle.key_ident(key))
    if wait is not None:
        raise OtlpError(429, "Too many requests for this key; retry later.",
                        retry_after=max(1, math.ceil(wait)))
    return key


def _body(request: HttpRequest) -> bytes:
    limit = settings.OTLP_MAX_BODY_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise OtlpError(413, f"The body is larger than {limit} bytes.")
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise OtlpError(413, f"The body is larger than {limit} bytes.")
    return inflate(raw, request.META.get("HTTP_CONTENT_ENCODING", ""), limit)


@csrf_exempt
def otlp_intake(request: HttpRequest, signal: str) -> HttpResponse:
    content_type = request.META.get("CONTENT_TYPE", "")
    try:
        if request.method != "POST":
            raise OtlpError(405, "OTLP/HTTP takes POST.")
        key = _key(request)
        message = parse(signal, _body(request), content_type)
        facts = MAPPERS[signal](message)
        try:
            counts = facts_store(project=key.project, facts=facts, label=f"key:{key.prefix}")
        except OperationalError:
            log.warning("OTLP %s: the database is busy", signal, exc_info=True)
            raise OtlpError(503, "The database is busy; retry.", retry_after=2) from None
        except DatabaseError as exc:
            log.warning("OTLP %s refused by the database: %s", signal, exc)
            raise OtlpError(400, "A value in the body cannot be stored (out of range).") \
                from None
        note_key_use(key)
    except OtlpError as error:
        return _status(error, content_type)
    log.debug("OTLP %s for project %s: %s", signal, key.project_id, counts)
    body, kind = encode_response(signal, content_type, rejected=facts.rejected,
                                 message="; ".join(facts.reasons))
    return HttpResponse(body, content_type=kind)
