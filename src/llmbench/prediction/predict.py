"""`llmbench sim predict` and `sim presets`: resolve a preset, run the twin offline, and turn its
plain timings into `RequestRecord`s, so the prediction's summary is a measured run's summary
by construction (same `summarize_run`, same terminal table). Imported lazily by `cli/sim.py`.
"""

from __future__ import annotations

import gc
import json
import time
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from llmbench.errors import ConfigError
from llmbench.metrics.stats import describe
from llmbench.metrics.summary import summarize_run
from llmbench.records import (
    CountSource,
    ErrorCategory,
    RequestError,
    RequestRecord,
    Status,
)
from llmbench.report.terminal import RunView, run_summary
from llmbench.sim.twin import presets as sim_presets
from llmbench.sim.twin.offline import Prediction, RequestTiming, Routing, poisson_arrivals, predict
from llmbench.sim.twin.params import Preset
from llmbench.sim.twin.sessions import SessionLoad, predict_sessions
from llmbench.store.run_schema import RunSummaryParts

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

    Token times are converted to ns offsets for all requests at once, and the loop builds each
    record directly: an hour of load is ~70,000 records, so per-record numpy calls or helper
    layers would cost more than the simulation itself.
    """
    counts = np.array([len(t.token_s) for t in timings], dtype=np.int64)
    sent = np.rint(np.array([t.arrival_s for t in timings], dtype=np.float64) * 1e9)
    sent_ns = sent.astype(np.int64)
    parts = [t.token_s for t in timings if len(t.token_s)]
    all_s = np.concatenate(parts) if parts else np.empty(0, dtype=np.float64)
    offsets_ns = np.rint(all_s * 1e9).astype(np.int64) - np.repeat(sent_ns, counts)
    raw = memoryview(offsets_ns.tobytes())
    longest = int(counts.max()) if len(counts) else 0
    ones, zeros = array("I", [1]) * longest, array("B", bytes(longest))
    ok, usage, chunk_start = Status.OK, CountSource.USAGE, 0
    records: list[RequestRecord] = []
    append = records.append
    for timing, n, sent_at in zip(timings, counts.tolist(), sent_ns.tolist(), strict=True):
        if timing.error is not None or not n:
            append(_error_record(timing, sent_at))
            continue
        chunk_offsets = array("q")
        chunk_offsets.frombytes(raw[8 * chunk_start : 8 * (chunk_start + n)])
        chunk_start += n
        first_ns = sent_at + chunk_offsets[0]
        record = RequestRecord(
            f"predict-{timing.index}", TARGET_ID, f"req-{timing.index}", timing.replica, ok,
            sent_at, sent_at, first_token_ns=first_ns, first_content_ns=first_ns,
            end_ns=sent_at + chunk_offsets[-1], chunk_offsets_ns=chunk_offsets,
            chunk_tokens=ones[:n], chunk_channels=zeros[:n],
            input_tokens=timing.prompt_tokens, cached_tokens=timing.cached_tokens,
            output_tokens=timing.output_tokens, output_tokens_source=usage,
            usage_output_tokens=timing.output_tokens, finish_reason="length", http_status=200,
            session_id=None if timing.session is None else f"session-{timing.session}",
        )  # fmt: skip
        append(record)
    return records


def _error_record(timing: RequestTiming, sent_ns: int) -> RequestRecord:
    error = RequestError(ErrorCategory.HTTP_4XX, timing.error or "no tokens", 400)
    return RequestRecord(
        f"predict-{timing.index}", TARGET_ID, f"req-{timing.index}", timing.replica,
        Status.ERROR, sent_ns, sent_ns, input_tokens=timing.prompt_tokens, http_status=400,
        error=error,
    )  # fmt: skip


def prediction_run(
    preset: Preset, prediction: Prediction, load: dict[str, Any], wall_s: float, seed: int
) -> dict[str, Any]:
    """The run.json-shaped result: spec, target, engine facts, then `summarize_run`'s keys."""
    records = to_records(prediction.requests)
    summary = summarize_run(records, seed=seed)
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
        **summary,
    }


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Collections off while an hour's ~70,000 sequences, timings and records are built: each
    generational pass would rescan every object built so far and free nothing (no cycles)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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
    turns: int = 1,
    think_time_s: float = 5.0,
) -> dict[str, Any]:
    """Poisson arrivals at `rate` over `duration_s`; with `turns` > 1 each arrival starts a
    session of that many turns (`input_tokens` new per turn, on top of the history)."""
    if turns > 1 and routing != "round-robin":
        raise ConfigError(
            "sessions stick to one replica (their history is cached there)",
            where="--routing", hint="leave --routing at round-robin with --turns",
        )  # fmt: skip
    if turns > 1 and preset.timing == "fixed":
        raise ConfigError(
            "sessions need a preset with an engine; fixed timing has no prefix cache",
            where="--turns", hint="use --preset cloud-warm or self-hosted-cold",
        )  # fmt: skip
    started = time.perf_counter()
    profile = f"poisson {rate:g}/s × {duration_s:g} s, {replicas} replica(s) {routing}"
    if turns > 1:
        profile += f", sessions of {turns} turns, {think_time_s:g} s think time"
    load = {
        "profile": profile,
        "concurrency": None,
        "rate_per_s": rate,
        "duration_s": duration_s,
        "replicas": replicas,
        "routing": routing,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "turns": turns,
        "think_time_s": think_time_s if turns > 1 else None,
    }
    with _gc_paused():
        arrivals = poisson_arrivals(rate, duration_s, seed)
        if turns > 1:
            sessions = SessionLoad(arrivals, turns, think_time_s, input_tokens, output_tokens)
            prediction = predict_sessions(preset, sessions, replicas=replicas, seed=seed)
        else:
            prediction = predict(
                preset, arrivals, input_tokens=input_tokens, output_tokens=output_tokens,
                replicas=replicas, seed=seed, routing=routing,
            )  # fmt: skip
        run = prediction_run(preset, prediction, load, time.perf_counter() - started, seed)
    if turns > 1:
        run["prediction"]["sessions"] = session_facts(prediction.requests)
    run["prediction"]["wall_s"] = time.perf_counter() - started
    return run


def session_facts(requests: list[RequestTiming]) -> dict[str, Any]:
    """Cached-token fraction and TTFT of first turns, later turns that reused the prefix cache
    and later turns that found it gone (evicted under memory pressure, or expired)."""
    groups: dict[str, list[RequestTiming]] = {"first": [], "reused": [], "missed": []}
    refused = 0
    for t in requests:
        if t.error is not None or not len(t.token_s):
            refused += 1
        elif t.turn == 0:
            groups["first"].append(t)
        else:
            groups["reused" if t.cached_tokens else "missed"].append(t)
    later = groups["reused"] + groups["missed"]
    out: dict[str, Any] = {
        "sessions": len({t.session for t in requests}),
        "turns": len(requests),
        "refused_turns": refused,
        "cached_token_fraction": _cached_fraction(requests),
        "later_turns_cached_token_fraction": _cached_fraction(later),
    }
    for name, group in groups.items():
        ttft_ms = [1e3 * (float(t.token_s[0]) - t.arrival_s) for t in group]
        stats = describe(ttft_ms, seed=0) if ttft_ms else None
        out[f"{name}_turns"] = {
            "n": len(group),
            "mean_prompt_tokens": sum(t.prompt_tokens for t in group) / len(group)
            if group
            else None,
            "cached_token_fraction": _cached_fraction(group),
            "ttft_ms": {k: stats[k] for k in ("mean", "p50", "p90", "p99")} if stats else None,
        }
    return out


def _cached_fraction(group: list[RequestTiming]) -> float | None:
    prompt = sum(t.prompt_tokens for t in group)
    return sum(t.cached_tokens for t in group) / prompt if prompt else None


def sessions_text(facts: dict[str, Any]) -> str:
    """Two lines under the table: how much of the prompts the cache served, and what it saved."""
    lines = [
        f"sessions {facts['sessions']}, turns {facts['turns']} ({facts['refused_turns']} refused):"
        f" cached tokens {_pct(facts['cached_token_fraction'])} of all prompt tokens,"
        f" {_pct(facts['later_turns_cached_token_fraction'])} of later turns'"
    ]
    for name in ("first", "reused", "missed"):
        group = facts[f"{name}_turns"]
        ttft = group["ttft_ms"]
        timing = (
            f"TTFT mean {ttft['mean']:.1f} ms, P90 {ttft['p90'] or float('nan'):.1f} ms"
            if ttft
            else "-"
        )
        prompt = group["mean_prompt_tokens"]
        size = f"mean prompt {prompt:,.0f} tokens" if prompt is not None else ""
        lines.append(f"  {name:<6} turns: n {group['n']:>6}  {size}  {timing}")
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def render(run: dict[str, Any]) -> Any:
    """The prediction as a run's summary (it is shaped like one, but is no results file)."""
    target, load = run["target"], run["spec"]["load"]
    detail = (
        f"  target {target['id']} {target['base_url']} model {target['model']} "
        f"({target['endpoint']})  load {load['profile']} c={load['concurrency']}"
    )
    parts = RunSummaryParts.model_validate({k: run[k] for k in RunSummaryParts.model_fields})
    return run_summary(RunView(None, parts, run["status"], run["run_id"], detail))
