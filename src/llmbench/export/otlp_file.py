"""An OTLP JSON file: one `ExportTraceServiceRequest` per line (the OpenTelemetry Collector's
`otlpjsonfile` receiver reads this; each line is also a valid body for an OTLP/HTTP
`/v1/traces` POST), each line one run's resource and up to `BATCH_SPANS` of its spans.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from llmbench import __version__
from llmbench.errors import StoreError
from llmbench.export.otel import Span, SpanContext, attributes, run_spans, server_of
from llmbench.export.sources import RunSource
from llmbench.store.run_schema import RunResult

BATCH_SPANS = 1000  # spans per line: a line stays well under a collector's 4 MiB default


def _provider(run: RunResult) -> str:
    """gen_ai.provider.name: the target's protocol for Anthropic and agent services, else the
    serving engine when known (vllm, sglang, ...), else `openai` (an OpenAI-compatible API)."""
    kind = run.spec.target.kind
    if kind != "openai":
        return kind
    engine = run.target.engine
    if engine is not None and engine.name is not None:
        return engine.name
    return "openai"


def span_context(source: RunSource, task_ids: frozenset[str]) -> SpanContext:
    run, wall_origin = source.run, source.wall_origin_ns
    if run is None or wall_origin is None:
        raise StoreError(
            f"{source.directory / 'run.json'} is missing: spans need its clock anchor to place "
            "timestamps in wall-clock time",
            hint="export this run as --format csv, jsonl or parquet (times relative to the run)",
        )
    address, port = server_of(run.target.base_url)
    return SpanContext(
        run_id=run.run_id,
        wall_offset_ns=wall_origin - run.clock.monotonic_ns_at_start,
        operation="chat" if run.target.endpoint == "chat" else "text_completion",
        provider=_provider(run),
        request_model=run.target.model or None,
        stream=run.spec.target.stream,
        server_address=address,
        server_port=port,
        task_ids=task_ids,
    )


def _resource(source: RunSource) -> dict[str, Any]:
    run = source.run
    place = source.study
    values: dict[str, Any] = {
        "service.name": "llmbench",
        "service.version": __version__,
        "llmbench.run_id": source.run_id,
        "llmbench.target_id": None if run is None else run.target.id,
        "llmbench.spec_hash": None if run is None else run.spec_hash,
        "llmbench.study": None if place is None else place.study,
        "llmbench.scenario": None if place is None else place.scenario,
        "llmbench.step": None if place is None else place.step,
        "llmbench.repeat": None if place is None else place.repeat,
    }
    return {"attributes": attributes(values)}


def _lines(source: RunSource) -> Iterator[tuple[bytes, int]]:
    tasks = list(source.tasks())  # tasks are few (one per many requests)
    ctx = span_context(source, frozenset(task.task_id for task in tasks))
    spans = run_spans(ctx, tasks, source.records())
    resource = _resource(source)
    scope = {"name": "llmbench", "version": __version__}
    while batch := list(islice(spans, BATCH_SPANS)):
        yield _line(resource, scope, batch), len(batch)


def _line(resource: dict[str, Any], scope: dict[str, str], spans: list[Span]) -> bytes:
    request = {"resourceSpans": [{"resource": resource, "scopeSpans": [
        {"scope": scope, "spans": spans}]}]}  # fmt: skip
    return orjson.dumps(request, option=orjson.OPT_APPEND_NEWLINE)


def write_otlp(path: Path, sources: list[RunSource]) -> int:
    """Writes every run's spans to `path`; returns the number of spans."""
    for source in sources:  # every run has its anchor, before anything is written
        if source.run is None:
            span_context(source, frozenset())
    written = 0
    try:
        with path.open("wb") as out:
            for source in sources:
                for line, n_spans in _lines(source):
                    out.write(line)
                    written += n_spans
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return written
