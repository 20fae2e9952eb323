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
from llmbench.sim.offline import Prediction, RequestTiming, poisson_arrivals, predict
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
        for section, fields in data.items():
            if isinstance(fields, dict):
                values = ", ".join(f"{k}={_fmt(v)}" for k, v in fields.items())
                lines.append(f"  {section}: {values}")
            else:
                lines.append(f"  {section}: {fields}")
        lines.append("")
    lines.append("override any field: --set section.field=value (e.g. --set engine.max_seqs=64)")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float) and (abs(value) >= 1e6 or 0 < abs(value) < 1e-3):
        return f"{value:.4g}"
    return str(value)


def to_record(timing: RequestTiming) -> RequestRecord:
    """One predicted request as the client would have recorded it (virtual ns clock)."""
    sent_ns = round(timing.arrival_s * 1e9)
    request_id = f"predict-{timing.index}"
    common: dict[str, Any] = {
        "request_id": request_id,
        "target_id": TARGET_ID,
        "item_id": f"req-{timing.index}",
        "worker_id": timing.replica,
        "scheduled_ns": sent_ns,
        "sent_ns": sent_ns,
        "input_tokens": timing.prompt_tokens,
        "requested_output_tokens": None,
    }
    if timing.error is not None:
        error = RequestError(ErrorCategory.HTTP_4XX, timing.error, 400)
        return RequestRecord(status=Status.ERROR, http_status=400, error=error, **common)
    token_ns = np.rint(timing.token_s * 1e9).astype(np.int64)
    n = len(token_ns)
    first_ns, end_ns = int(token_ns[0]), int(token_ns[-1])
    return RequestRecord(
        status=Status.OK,
        first_token_ns=first_ns,
        first_content_ns=first_ns,
        end_ns=end_ns,
        chunk_offsets_ns=array("q", (token_ns - sent_ns).tobytes()),
        chunk_tokens=array("I", [1]) * n,
        chunk_channels=array("B", bytes(n)),
        cached_tokens=timing.cached_tokens,
        output_tokens=timing.output_tokens,
        output_tokens_source=CountSource.USAGE,
        usage_output_tokens=timing.output_tokens,
        finish_reason="length",
        http_status=200,
        **common,
    )


def prediction_run(
    preset: Preset, prediction: Prediction, load: dict[str, Any], wall_s: float, seed: int
) -> dict[str, Any]:
    """The run.json-shaped result: spec, target, engine facts, then `summarize_run`'s keys."""
    records = [to_record(t) for t in prediction.requests]
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
    )
    load = {
        "profile": f"poisson {rate:g}/s × {duration_s:g} s, {replicas} replica(s)",
        "concurrency": None,
        "rate_per_s": rate,
        "duration_s": duration_s,
        "replicas": replicas,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
    }
    run = prediction_run(preset, prediction, load, time.perf_counter() - started, seed)
    run["prediction"]["wall_s"] = time.perf_counter() - started
    return run


def render(run: dict[str, Any]) -> Any:
    return run_summary(run)
