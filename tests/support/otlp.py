"""Reading an OTLP JSON file back with the official protobuf types (`opentelemetry-proto`):
every line must parse as an `ExportTraceServiceRequest`, unknown or mistyped fields refused."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

_HEX = {16: re.compile(r"[0-9a-f]{32}"), 8: re.compile(r"[0-9a-f]{16}")}


def parse_line(line: str) -> ExportTraceServiceRequest:
    """One OTLP JSON line as the protobuf message. OTLP JSON writes trace and span ids as hex
    where protobuf's own JSON mapping expects base64: checked as hex, converted, then parsed."""
    doc = json.loads(line)
    for resource_spans in doc["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for key, size in (("traceId", 16), ("spanId", 8), ("parentSpanId", 8)):
                    if key in span:
                        assert _HEX[size].fullmatch(span[key]), (key, span[key])
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    return json_format.Parse(json.dumps(doc), ExportTraceServiceRequest())


def read_spans(path: Path) -> tuple[list[ExportTraceServiceRequest], list[Span]]:
    requests = [parse_line(line) for line in path.read_text().splitlines()]
    spans = [s for r in requests for rs in r.resource_spans for ss in rs.scope_spans
             for s in ss.spans]  # fmt: skip
    return requests, spans


def span_attributes(span: Span) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in span.attributes:
        kind = kv.value.WhichOneof("value")
        value = getattr(kv.value, kind)
        out[kv.key] = list(value.values) if kind == "array_value" else value
    return out
