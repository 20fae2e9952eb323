"""`llmbench sim calibrate`: measured runs (or study directories of them) → request-level samples
→ a fitted preset file with its provenance, the fit error on the calibration runs and, with
`--validate`, the error on other runs per load level. Imported lazily by `cli/sim.py`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

import llmbench
from llmbench.errors import ConfigError
from llmbench.prediction.validate import by_load_level, compare, measured_run, varied_lengths
from llmbench.records import RequestRecord
from llmbench.sim.twin import presets as sim_presets
from llmbench.sim.twin.calibrate import Fit, ItlSample, Shape, TtftSample, fit
from llmbench.sim.twin.params import Preset
from llmbench.store.results import LoadedRun, load_run
from llmbench.store.run_schema import RunResult
from llmbench.store.study_index import STUDY_FILE, load_study_index

_CLOSED_LOOP = ("synchronous", "concurrency")
_FIXED_KEYS = ("input_tokens", "output_tokens", "prefix_tokens")
# Shown in a source's provenance only when set (runs of varied lengths).
_VARIED_KEYS = ("input_tokens_stddev", "output_tokens_stddev", "input_mix", "output_mix")
_WORKLOAD_KEYS = (*_FIXED_KEYS, *_VARIED_KEYS)


@dataclass(frozen=True, slots=True)
class Provenance:
    """What the CLI knows about the measured engine beyond the runs (flags)."""

    engine_name: str | None = None
    engine_version: str | None = None
    gpu: str | None = None


def expand(directories: list[Path]) -> list[Path]:
    """Run directories; a study directory (study.json) stands for its steps, in order."""
    out: list[Path] = []
    for directory in directories:
        if (directory / STUDY_FILE).exists():
            index = load_study_index(directory)
            out += [directory / step.dir for step in index.steps]
        else:
            out.append(directory)
    return out


def _measured(records: list[RequestRecord]) -> list[RequestRecord]:
    return [r for r in records if r.ok and not r.warmup and r.first_token_ns is not None]


def _closed_loop_concurrency(run: RunResult) -> int | None:
    """Streams of a closed-loop run (decode batch size); None for open-loop runs."""
    load = run.spec.load
    return load.concurrency if load.profile in _CLOSED_LOOP else None


def run_samples(loaded: LoadedRun) -> tuple[list[TtftSample], list[ItlSample]]:
    """Low-load TTFT per request of a run at concurrency 1 (cached tokens from usage), and the
    run's decode sample (streams, mean context, median inter-token gap) for a closed loop of
    fixed lengths. A run of varied lengths gives no decode sample: its batches mix contexts
    that the equal-context decode model would read as a byte rate (docs/simulator.md)."""
    run = measured_run(loaded)
    concurrency = _closed_loop_concurrency(run)
    records = _measured(loaded.records)
    if concurrency is None or not records:
        return [], []
    ttft: list[TtftSample] = []
    if concurrency == 1:
        ttft = [
            TtftSample(
                r.input_tokens - (r.cached_tokens or 0),
                ((r.first_token_ns or 0) - r.sent_ns) / 1e9,
                r.cached_tokens or 0,
            )
            for r in records
            if r.input_tokens
        ]
    if varied_lengths(run):
        return ttft, []
    gaps = [np.diff(np.frombuffer(r.chunk_offsets_ns, dtype=np.int64)) for r in records]
    pooled = np.concatenate(gaps)
    if not len(pooled):
        return ttft, []
    context = np.mean([(r.input_tokens or 0) + (r.output_tokens or 0) / 2 for r in records])
    return ttft, [ItlSample(concurrency, float(context), float(np.median(pooled)) / 1e9)]


def _source(loaded: LoadedRun) -> dict[str, Any]:
    run = measured_run(loaded)
    spec, target, host = run.spec, run.target, run.environment.host
    workload = spec.workload.model_dump(mode="json")
    return {
        "dir": str(loaded.directory),
        "run_id": run.run_id,
        "target": {"id": target.id, "base_url": target.base_url, "model": target.model},
        "load": {
            "profile": spec.load.profile,
            "concurrency": spec.load.concurrency,
            "rate": spec.load.rate,
        },
        "workload": {k: workload[k] for k in _WORKLOAD_KEYS if k in _FIXED_KEYS or workload[k]},
        "sim_preset": spec.sim.preset,
        "requests_ok": sum(1 for r in loaded.records if r.ok and not r.warmup),
        "requests_per_s": _requests_per_s(run),
        "llmbench": run.environment.llmbench.version,
        "client_host": {
            "hostname": host.hostname,
            "cpu_model": host.cpu_model,
            "cpu_logical": host.cpu_logical,
        },
    }


def _requests_per_s(run: RunResult) -> float | None:
    return run.summary.requests_per_s if run.summary is not None else None


def _embedded_preset(run: RunResult) -> str | None:
    """The twin preset of a run against the embedded simulator (`run --sim-preset`)."""
    embedded = run.target.embedded_sim
    if embedded is None and run.spec.target.base_url:
        return None
    return (embedded or run.spec.sim).preset or None


def _engine(runs: list[LoadedRun], flags: Provenance) -> dict[str, Any]:
    """Flags first; else what the runs say (the embedded twin names its preset)."""
    measured = [measured_run(r) for r in runs]
    presets = sorted({p for run in measured if (p := _embedded_preset(run))})
    name = flags.engine_name or (f"llmbench-sim twin ({', '.join(presets)})" if presets else None)
    models = sorted({run.target.model for run in measured if run.target.model})
    return {"name": name, "version": flags.engine_version, "gpu": flags.gpu, "models": models}


def capacity_of(runs: list[LoadedRun]) -> float | None:
    """Measured capacity: the highest throughput among the runs (the top of the sweep)."""
    rates = [r for x in runs if (r := _requests_per_s(measured_run(x)))]
    return max(rates) if rates else None


def calibrate(
    directories: list[Path],
    base: Preset,
    out: Path,
    *,
    shape: Shape = "roofline",
    provenance: Provenance | None = None,
    validate: list[Path] | None = None,
    capacity_per_s: float | None = None,
) -> dict[str, Any]:
    """Fit, compare with the calibration (and validation) runs, write the preset file with
    what it was fitted on; returns the document written."""
    runs = [load_run(d) for d in expand(directories)]
    ttft: list[TtftSample] = []
    itl: list[ItlSample] = []
    for loaded in runs:
        got_ttft, got_itl = run_samples(loaded)
        ttft += got_ttft
        itl += got_itl
    try:
        result = fit(base, ttft, itl, shape=shape)
    except ValueError as exc:
        where = ", ".join(str(d) for d in directories)
        raise ConfigError(
            str(exc), where=f"RUN_DIR ({where})", hint="measure the sweeps first"
        ) from exc
    capacity = capacity_per_s or capacity_of(runs)
    checks = [load_run(d) for d in expand(validate or [])]
    fit_rows = [compare(result.preset, r, capacity) for r in runs]
    validation = [compare(result.preset, r, capacity) for r in checks]
    document = _document(base, result, runs, provenance or Provenance(), capacity)
    if varied := sum(varied_lengths(measured_run(r)) for r in runs):
        document["fitted"]["notes"].append(
            f"{varied} calibration run(s) of varied lengths: no decode sample taken from them"
        )
    document["fitted"]["fit_error"] = [c.to_json() for c in fit_rows]
    document["fitted"]["validation"] = {
        "runs": [c.to_json() for c in validation],
        "by_load_level": by_load_level(validation),
    }
    try:
        out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror or exc}", where="--out") from exc
    return document


def _document(
    base: Preset, result: Fit, runs: list[LoadedRun], flags: Provenance, capacity: float | None
) -> dict[str, Any]:
    name = f"{base.name}-calibrated"
    return {
        "base": base.name if base.name in sim_presets.BUILTIN else "cloud-warm",
        **sim_presets.to_dict(result.preset),
        "name": name,
        "description": f"{base.name} fitted to {len(runs)} measured run(s) ({result.shape})",
        "fitted": {
            "date": datetime.now(UTC).isoformat(),
            "llmbench_version": llmbench.__version__,
            "shape": result.shape,
            "engine": _engine(runs, flags),
            "runs": [_source(r) for r in runs],
            "capacity_per_s": capacity,
            "coefficients": result.coefficients,
            "notes": list(result.notes),
            "mean_abs_relative_error": result.errors,
        },
    }
