"""The real OpenTelemetry Python SDK as an emitter: providers wired to the SDK's own OTLP/HTTP
exporters (protobuf), or to its in-memory exporters whose batches the SDK's own encoders turn
into the OTLP messages we then send as OTLP/JSON (the Python SDK has no JSON exporter; the
encoding is the protocol's JSON mapping: hex ids, enums as numbers)."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from typing import Any

from google.protobuf import json_format
from opentelemetry._logs import LogRecord
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, UpDownCounter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    InMemoryMetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

DELTA = {Counter: AggregationTemporality.DELTA, Histogram: AggregationTemporality.DELTA,
         UpDownCounter: AggregationTemporality.CUMULATIVE}
CUMULATIVE = {Counter: AggregationTemporality.CUMULATIVE,
              Histogram: AggregationTemporality.CUMULATIVE,
              UpDownCounter: AggregationTemporality.CUMULATIVE}


def resource(service: str, **extra: Any) -> Resource:
    return Resource.create({"service.name": service, **extra})


class Emitter:
    """Logs, traces and metrics of one emitting process, sent to `base` + /v1/<signal>."""

    def __init__(self, base: str, key: str, res: Resource, *, encoding: str = "protobuf",
                 temporality: dict[type, AggregationTemporality] | None = None,
                 gzip: bool = False) -> None:
        self.base = base.rstrip("/")
        self.key = key
        self.encoding = encoding
        self.headers = {"Authorization": f"Bearer {key}"}
        compression = Compression.Gzip if gzip else Compression.NoCompression
        self.logs = LoggerProvider(resource=res, shutdown_on_exit=False)
        self.tracer_provider = TracerProvider(resource=res, shutdown_on_exit=False)
        self.temporality = temporality or DELTA
        if encoding == "protobuf":
            self.log_exporter: Any = OTLPLogExporter(
                endpoint=f"{self.base}/v1/logs", headers=self.headers, compression=compression)
            self.span_exporter: Any = OTLPSpanExporter(
                endpoint=f"{self.base}/v1/traces", headers=self.headers, compression=compression)
            self.metric_exporter = OTLPMetricExporter(
                endpoint=f"{self.base}/v1/metrics", headers=self.headers,
                compression=compression, preferred_temporality=self.temporality)
            self.reader: Any = PeriodicExportingMetricReader(
                self.metric_exporter, export_interval_millis=3_600_000)
        else:
            self.log_exporter = InMemoryLogRecordExporter()
            self.span_exporter = InMemorySpanExporter()
            self.reader = InMemoryMetricReader(preferred_temporality=self.temporality)
        self.logs.add_log_record_processor(SimpleLogRecordProcessor(self.log_exporter))
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.span_exporter))
        self.meters = MeterProvider(resource=res, metric_readers=[self.reader],
                                    shutdown_on_exit=False)
        self.tracer = self.tracer_provider.get_tracer("tests.otlp")
        self.meter = self.meters.get_meter("tests.otlp")

    def event(self, scope: str, body: str, attributes: dict[str, Any],
              timestamp_ns: int | None = None, event_name: str | None = None) -> None:
        now = timestamp_ns or time.time_ns()
        self.logs.get_logger(scope).emit(LogRecord(
            timestamp=now, observed_timestamp=now, body=body, attributes=attributes,
            event_name=event_name))

    def flush(self) -> list[int]:
        """Send what was recorded; the HTTP statuses of the JSON posts (protobuf: the SDK
        exporters have sent already, synchronously)."""
        if self.encoding == "protobuf":
            self.reader.force_flush()
            return []
        statuses = []
        logs = self.log_exporter.get_finished_logs()
        if logs:
            statuses.append(self.post_json("logs", encode_logs(logs)))
            self.log_exporter.clear()
        spans = self.span_exporter.get_finished_spans()
        if spans:
            statuses.append(self.post_json("traces", encode_spans(spans)))
            self.span_exporter.clear()
        metrics = self.reader.get_metrics_data()
        if metrics is not None and metrics.resource_metrics:
            statuses.append(self.post_json("metrics", encode_metrics(metrics)))
        return statuses

    def post_json(self, signal: str, message: Any) -> int:
        return post(f"{self.base}/v1/{signal}", otlp_json(message), self.key)[0]

    def shutdown(self) -> None:
        self.logs.shutdown()
        self.tracer_provider.shutdown()
        self.meters.shutdown()


def otlp_json(message: Any) -> bytes:
    """A protobuf OTLP message in the OTLP/JSON encoding (ids as hex, enums as numbers)."""
    tree = json_format.MessageToDict(message, use_integers_for_enums=True)

    def hexify(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (base64.b64decode(v).hex()
                        if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str)
                        else hexify(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [hexify(v) for v in node]
        return node

    return json.dumps(hexify(tree)).encode()


def post(url: str, body: bytes, key: str | None, content_type: str = "application/json",
         **headers: str) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": content_type, **({"Authorization": f"Bearer {key}"} if key else {}),
        **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def claude_code_logs(session: str = "sess-1", events: list[tuple[str, dict[str, Any]]] | None
                     = None, timestamp_ns: int | None = None, **resource_attrs: Any) -> Any:
    """An ExportLogsServiceRequest made by the SDK from Claude Code's event names."""
    emitter = Emitter("http://127.0.0.1:9", "unused",
                      resource("claude-code", **resource_attrs), encoding="json")
    for name, attrs in events or [("api_request", {
            "request_id": "req_1", "model": "claude-sonnet-4-5", "input_tokens": 10,
            "output_tokens": 5, "cache_read_tokens": 100, "cache_creation_tokens": 0,
            "cost_usd": 0.01, "duration_ms": 800})]:
        emitter.event("com.anthropic.claude_code.events", f"claude_code.{name}",
                      {"session.id": session, "event.name": name, **attrs},
                      timestamp_ns=timestamp_ns)
    message = encode_logs(emitter.log_exporter.get_finished_logs())
    emitter.shutdown()
    return message
