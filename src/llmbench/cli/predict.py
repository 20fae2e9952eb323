"""`llmbench sim predict` and `sim presets`: resolve a preset, run the twin offline, and turn its
plain timings into `RequestRecord`s, so the prediction's summary is a measured run's summary
by construction (same `summarize_run`, same terminal table). Imported lazily by `cli/sim.py`.
"""

from __future__ import annotations

import json
import time
from array import array
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from llmbench.errors import ConfigError
from llmbench.metrics.summary import summarize_run
from llmbench.records import (
    CountSource,
    ErrorCategory,
    RequestError,
    RequestRecord,
    Status,
)
from llmbench.report.terminal import run_summary
from llmbench.sim import presets as sim_presets
from llmbench.sim.offline import Prediction, RequestTiming, Routing, poisson_arrivals, predict
from llmbench.sim.params import Preset

TARGET_ID = "sim-predict"


def resolve_preset(name: str | None, preset_file: Path | None, assignments: list[str]) -> Preset:
    """Named preset or file (file wins), then `--set` overrides; ConfigError names the flag."""
    try:
        if preset_file is not None:
            preset = sim_presets.load_file(preset_file)
        else:
            preset = sim_presets.builtin(name or "cloud-warm")
    except (OSError, ValueError) as exc:
        raise ConfigError(str(exc), where="--preset-file" if preset_file else "--preset") from exc
    try:
        return sim_presets.override(preset, sim_presets.parse_assignments(assignments))
    except (ValueError, TypeError) as exc:
        hint = "see `llmbench sim presets` for the fields and their values"
        raise ConfigError(str(exc), where="--set", hint=hint) from exc


def presets_text(as_json: bool) -> str:
    listed = {name: sim_presets.to_dict(p) for name, p in sim_presets.BUILTIN.items()}
    if as_json:
        return json.dumps(listed, indent=2)
    lines: list[str] = []
    for name, data in listed.items():
        lines.append(f"{name}: {data.pop('description')}")
        data.pop("name")
        lines += _section_lines(data)
        lines.append("")
    lines.append("override any field: --set section.field=value (e.g. --set engine.max_seqs=64)")
    return "\n".join(lines)


def preset_file_text(path: Path, as_json: bool) -> tuple[str, dict[str, Any]]:
    """A preset file's resolved parameters (text or JSON) and the file's own document."""
    preset = resolve_preset(None, path, [])
    document: dict[str, Any] = {}
    if path.suffix != ".toml":  # resolve_preset has read and parsed it already
        document = json.loads(path.read_text(encoding="utf-8"))
    data = sim_presets.to_dict(preset)
    if as_json:
        return json.dumps({**data, "fitted": document.get("fitted")}, indent=2), document
    lines = [f"{data.pop('name')}: {data.pop('description')}", *_section_lines(data)]
    return "\n".join(lines), document


def _section_lines(data: dict[str, Any]) -> list[str]:
    """One line per section; the polynomial only where it times the steps (JSON keeps all)."""
    lines = []
    for section, fields in data.items():
        if section == "polynomial" and data.get("timing") != "polynomial":
            continue
        if isinstance(fields, dict):
            lines.append(f"  {section}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in fields.items()))
        else:
            lines.append(f"  {section}: {fields}")
    return lines


def _fmt(value: Any) -> str:
    if isinstance(value, float) and (abs(value) >= 1e6 or 0 < abs(value) < 1e-3):
        return f"{value:.4g}"
    return str(value)


def to_records(timings: list[RequestTiming]) -> list[RequestRecord]:
    """The predicted requests as the client would have recorded them (virtual ns clock).

    Token times are converted to ns offsets for all requests at once: per-request numpy calls
    would cost more than the simulation itself for an hour of load.
    """
    counts = np.array([len(t.token_s) for t in timings], dtype=np.int64)
    sent = np.rint(np.array([t.arrival_s for t in timings], dtype=np.float64) * 1e9)
    sent_ns = sent.astype(np.int64)
    parts = [t.token_s for t in timings if len(t.token_s)]
    all_s = np.concatenate(parts) if parts else np.empty(0, dtype=np.float64)
    offsets_ns = np.rint(all_s * 1e9).astype(np.int64) - np.repeat(sent_ns, counts)
    raw = offsets_ns.tobytes()
    longest = int(counts.max()) if len(counts) else 0
    ones, zeros = array("I", [1]) * longest, array("B", bytes(longest))
    records: list[RequestRecord] = []
    start = 0
    for timing, n, sent_at in zip(timings, counts.tolist(), sent_ns.tolist(), strict=True):
        chunk_offsets = array("q")
        chunk_offsets.frombytes(raw[8 * start : 8 * (start + n)])
        start += n
        records.append(_record(timing, sent_at, chunk_offsets, ones[:n], zeros[:n]))
    return records


def _record(
    timing: RequestTiming,
    sent_ns: int,
    chunk_offsets: array[int],
    chunk_tokens: array[int],
    chunk_channels: array[int],
) -> RequestRecord:
    request_id = f"predict-{timing.index}"
    if timing.error is not None or not chunk_offsets:
        error = RequestError(ErrorCategory.HTTP_4XX, timing.error or "no tokens", 400)
        return RequestRecord(
            request_id, TARGET_ID, f"req-{timing.index}", timing.replica, Status.ERROR,
            sent_ns, sent_ns, input_tokens=timing.prompt_tokens, http_status=400, error=error,
        )  # fmt: skip
    first_ns, end_ns = sent_ns + chunk_offsets[0], sent_ns + chunk_offsets[-1]
    return RequestRecord(
        request_id, TARGET_ID, f"req-{timing.index}", timing.replica, Status.OK, sent_ns, sent_ns,
        first_token_ns=first_ns, first_content_ns=first_ns, end_ns=end_ns,
        chunk_offsets_ns=chunk_offsets, chunk_tokens=chunk_tokens, chunk_channels=chunk_channels,
        input_tokens=timing.prompt_tokens, cached_tokens=timing.cached_tokens,
        output_tokens=timing.output_tokens, output_tokens_source=CountSource.USAGE,
        usage_output_tokens=timing.output_tokens, finish_reason="length", http_status=200,
    )  # fmt: skip


def prediction_run(
    preset: Preset, prediction: Prediction, load: dict[str, Any], wall_s: float, seed: int
) -> dict[str, Any]:
    """The run.json-shaped result: spec, target, engine facts, then `summarize_run`'s keys."""
    records = to_records(prediction.requests)
    cached = sum(t.cached_tokens for t in prediction.requests)
    prompt = sum(t.prompt_tokens for t in prediction.requests)
    return {
        "run_id": f"predict-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}",
        "status": "predicted",
        "spec": {"load": load, "preset": sim_presets.to_dict(preset), "seed": seed},
        "target": {
            "id": TARGET_ID,
            "base_url": "(offline, virtual clock)",
            "model": preset.name,
            "endpoint": "chat",
        },
        "prediction": {
            "steps": prediction.steps,
            "preemptions": prediction.preemptions,
            "cold_starts": prediction.cold_starts,
            "prefix_cached_tokens": cached,
            "prefix_hit_rate": cached / prompt if prompt else None,
            "wall_s": wall_s,
        },
        **summarize_run(records, seed=seed),
    }


def run_predict(
    preset: Preset,
    *,
    rate: float,
    duration_s: float,
    input_tokens: int,
    output_tokens: int,
    replicas: int,
    seed: int,
    routing: Routing = "round-robin",
) -> dict[str, Any]:
    started = time.perf_counter()
    arrivals = poisson_arrivals(rate, duration_s, seed)
    prediction = predict(
        preset,
        arrivals,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        replicas=replicas,
        seed=seed,
        routing=routing,
    )
    load = {
        "profile": f"poisson {rate:g}/s × {duration_s:g} s, {replicas} replica(s) {routing}",
        "concurrency": None,
        "rate_per_s": rate,
        "duration_s": duration_s,
        "replicas": replicas,
        "routing": routing,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
    }
    run = prediction_run(preset, prediction, load, time.perf_counter() - started, seed)
    run["prediction"]["wall_s"] = time.perf_counter() - started
    return run


def render(run: dict[str, Any]) -> Any:
    return run_summary(run)
