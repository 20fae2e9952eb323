"""`llmbench sim calibrate`: measured runs → request-level samples → a fitted preset file.
Low-load TTFT comes from runs at concurrency 1 (an input-length sweep), decode step times from
each run's median inter-token gap (a concurrency sweep). Imported lazily by `cli/sim.py`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from llmbench.errors import ConfigError
from llmbench.records import RequestRecord
from llmbench.sim import presets as sim_presets
from llmbench.sim.calibrate import Fit, ItlSample, TtftSample, fit
from llmbench.sim.params import Preset
from llmbench.store.results import load_run


def _measured(records: list[RequestRecord]) -> list[RequestRecord]:
    return [r for r in records if r.ok and not r.warmup and r.first_token_ns is not None]


def samples(directories: list[Path]) -> tuple[list[TtftSample], list[ItlSample]]:
    ttft: list[TtftSample] = []
    itl: list[ItlSample] = []
    for directory in directories:
        loaded = load_run(directory)
        concurrency = int(loaded.run.get("spec", {}).get("load", {}).get("concurrency") or 1)
        records = _measured(loaded.records)
        if concurrency == 1:
            ttft += [
                TtftSample(
                    (r.input_tokens or 0) - (r.cached_tokens or 0),
                    ((r.first_token_ns or 0) - r.sent_ns) / 1e9,
                )
                for r in records
                if r.input_tokens
            ]
        gaps = [np.diff(np.frombuffer(r.chunk_offsets_ns, dtype=np.int64)) for r in records]
        pooled = np.concatenate(gaps) if gaps else np.empty(0)
        if len(pooled):
            context = np.mean([(r.input_tokens or 0) + (r.output_tokens or 0) / 2 for r in records])
            itl.append(ItlSample(concurrency, float(context), float(np.median(pooled)) / 1e9))
    return ttft, itl


def calibrate(directories: list[Path], base: Preset, out: Path) -> Fit:
    """Fit, write the preset file (with what it was fitted on), return the fit."""
    try:
        result = fit(base, *samples(directories))
    except ValueError as exc:
        raise ConfigError(str(exc), where="RUN_DIR", hint="measure the sweeps first") from exc
    document: dict[str, Any] = {
        "base": base.name,
        **sim_presets.to_dict(result.preset),
        "fitted": {
            "runs": [str(d) for d in directories],
            "date": datetime.now(UTC).isoformat(),
            "coefficients": result.coefficients,
            "mean_abs_relative_error": result.errors,
        },
    }
    document["name"] = f"{base.name}-calibrated"
    out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return result
