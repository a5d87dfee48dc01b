"""OTLP/HTTP request bodies → the protocol's protobuf messages (opentelemetry-proto).

Binary bodies are parsed by protobuf itself. JSON bodies follow the OTLP/JSON mapping of the
same messages, which differs from protobuf's canonical JSON in one way: trace and span ids are
hex strings, not base64; they are converted before `json_format.ParseDict` reads the rest.
Integers may arrive as numbers or strings and enums as numbers: ParseDict accepts both."""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

REQUESTS: dict[str, type[Message]] = {
    "logs": ExportLogsServiceRequest,
    "metrics": ExportMetricsServiceRequest,
    "traces": ExportTraceServiceRequest,
}
RESPONSES: dict[str, type[Message]] = {
    "logs": ExportLogsServiceResponse,
    "metrics": ExportMetricsServiceResponse,
    "traces": ExportTraceServiceResponse,
}
# Fields holding ids in OTLP/JSON (hex), wherever they appear in a message tree.
_ID_FIELDS = {"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"}


class OtlpError(Exception):
    """A request the intake refuses: the HTTP status and a message for the client."""

    def __init__(self, status: int, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


def media_type(content_type: str) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def inflate(body: bytes, encoding: str, limit: int) -> bytes:
    """The body without its Content-Encoding, refused past `limit` bytes once inflated (a
    small gzip may hold gigabytes)."""
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise OtlpError(415, f"Content-Encoding {encoding!r} is not supported: use gzip or none.")
    wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise OtlpError(400, f"The body is not valid {encoding}.") from None
    if len(data) > limit:
        raise OtlpError(413, f"The body is larger than {limit} bytes once decompressed.")
    if not inflater.eof:
        raise OtlpError(400, f"The {encoding} body is truncated.")
    return data


def _hex_ids_to_base64(node: Any) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                try:
                    value = base64.b64encode(bytes.fromhex(value)).decode() if value else ""
                except ValueError:
                    raise OtlpError(400, f"{key}: {value[:40]!r} is not a hex id.") from None
            else:
                value = _hex_ids_to_base64(value)
            out[key] = value
        return out
    if isinstance(node, list):
        return [_hex_ids_to_base64(v) for v in node]
    return node


def parse(signal: str, body: bytes, content_type: str) -> Message:
    """The Export*ServiceRequest of `signal` (logs, metrics, traces) held in `body`."""
    message = REQUESTS[signal]()
    kind = media_type(content_type)
    if kind == PROTOBUF:
        try:
            message.ParseFromString(body)
        except (DecodeError, ValueError, RuntimeError):
            raise OtlpError(400, "The body is not a valid OTLP protobuf message "
                                 f"({message.DESCRIPTOR.name}).") from None
        return message
    if kind == JSON:
        try:
            tree = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise OtlpError(400, "The body is not valid JSON.") from None
        if not isinstance(tree, dict):
            raise OtlpError(400, f"The body must be a JSON object ({message.DESCRIPTOR.name}).")
        try:
            json_format.ParseDict(_hex_ids_to_base64(tree), message, ignore_unknown_fields=True)
        except (json_format.ParseError, ValueError, TypeError, binascii.Error) as exc:
            raise OtlpError(400, f"The body is not a valid OTLP/JSON "
                                 f"{message.DESCRIPTOR.name}: {str(exc)[:300]}") from None
        return message
    raise OtlpError(415, "Content-Type must be application/x-protobuf or application/json "
                         "(OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf or http/json).")


def encode_response(signal: str, content_type: str, *, rejected: int = 0,
                    message: str = "") -> tuple[bytes, str]:
    """The Export*ServiceResponse in the request's encoding: empty on full success, with
    `partial_success` when some records were rejected."""
    response = RESPONSES[signal]()
    if rejected or message:
        field = {"logs": "rejected_log_records", "metrics": "rejected_data_points",
                 "traces": "rejected_spans"}[signal]
        setattr(response.partial_success, field, rejected)
        response.partial_success.error_message = message
    if media_type(content_type) == JSON:
        return json.dumps(json_format.MessageToDict(response)).encode(), JSON
    return response.SerializeToString(), PROTOBUF

