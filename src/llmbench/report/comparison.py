"""Two results directories compared metric by metric: the samples are read from the stored
records (`records.jsonl`, `tasks.jsonl`), compared with `metrics.compare` (ratios with bootstrap
CIs, Mann–Whitney with Holm across the rows, paired tasks, Kaplan–Meier for censored task
times), each run checked for warm-up and classified stable / backlogged / overloaded, and each
row said in one plain sentence. Runs with different workloads are refused unless forced.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmbench.config.digest import by_contents
from llmbench.errors import ConfigError, IncompatibleRunsError, StoreError
from llmbench.metrics.compare import DEFAULT_BAND, RATIO_STATISTICS, holm
from llmbench.metrics.stability import Verdict as LoadState
from llmbench.metrics.warmup import WarmupCheck
from llmbench.report.comparison_rows import (
    METRICS,
    NEITHER,
    MetricRow,
    RowOptions,
    compare_metric,
    rejudge,
)
from llmbench.report.comparison_samples import RunSamples, read_samples
from llmbench.store.results import RECORDS_FILE, RUN_FILE, load_run, read_run_file

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "ComparedDirs",
    "MetricRow",
    "Pairing",
    "RunComparison",
    "RunSide",
    "compare_dirs",
    "compare_runs",
    "pair_runs",
    "run_directories",
    "workload_differences",
]

DEFAULT_METRICS = (
    "ttft_ms", "ttfo_ms", "itl_ms", "tpot_ms", "e2e_ms", "request_output_tokens_per_s",
    "task_first_event_ms", "task_completion_ms",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class RunSide:
    """One run of a comparison: what it is, how it was served, and its warm-up check."""

    label: str
    directory: Path
    run_id: str | None
    protocol: str  # "token stream", "task API", "token stream + tasks" or "no data"
    n_requests: int  # ok measured requests
    n_tasks: int  # measured tasks (any status)
    state: LoadState
    state_reason: str
    warmup: WarmupCheck
    warmup_excluded: int  # requests left out as warm-up (only when asked: trim_warmup)
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label, "directory": str(self.directory), "run_id": self.run_id,
            "protocol": self.protocol, "n_requests": self.n_requests, "n_tasks": self.n_tasks,
            "state": self.state.value, "state_reason": self.state_reason,
            "warmup": {"n": self.warmup.n, "truncate": self.warmup.truncate,
                       "reliable": self.warmup.reliable, "note": self.warmup.note("TTFT"),
                       "excluded": self.warmup_excluded},
            "warnings": list(self.warnings),
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class RunComparison:
    """Candidate against baseline: one row per metric compared, and what was not compared."""

    baseline: RunSide
    candidate: RunSide
    rows: list[MetricRow]
    not_compared: list[str]  # "metric: why"
    differences: list[str]  # workload differences (non-empty only when forced)
    forced: bool
    band: float
    confidence: float
    seed: int
    notes: list[str] = field(default_factory=list)

    @property
    def sentences(self) -> list[str]:
        return [row.sentence for row in self.rows]

    def to_json(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline.to_json(),
            "candidate": self.candidate.to_json(),
            "rows": [row.to_json() for row in self.rows],
            "not_compared": self.not_compared,
            "differences": self.differences,
            "forced": self.forced,
            "band": self.band,
            "confidence": self.confidence,
            "seed": self.seed,
            "notes": self.notes,
        }


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else key, out)
    else:
        out[prefix] = value


# What must match for two runs to be compared: what was sent and how (not where, not watched).
_WORKLOAD_BLOCKS = ("workload", "load", "tokenizer", "tasks", "agent_loop")
# How long a run lasted and how the client was organized do not change what one request is:
# these may differ (a short run is then judged by its sample size), and are noted.
_RUN_LENGTH = frozenset(("load.requests", "load.duration_s", "load.workers", "load.validity"))


def _is_run_length(key: str) -> bool:
    return any(key == k or key.startswith(k + ".") for k in _RUN_LENGTH)


def workload_differences(
    baseline: RunSamples, candidate: RunSamples, *, run_length: bool = False
) -> list[str]:
    """'field: baseline vs candidate' for each workload or load field that differs (empty:
    comparable), leaving out the run's length and client layout (`_RUN_LENGTH`) unless
    `run_length`, which lists only those. A run without run.json cannot be checked: that is
    itself a difference."""
    b, c = baseline.spec, candidate.spec
    if b is None or c is None:
        missing = baseline if b is None else candidate
        return [f"{missing.directory}: no run.json, so its workload is unknown"]
    b, c = by_contents(b), by_contents(c)  # a trace or dataset by its digest, not its path
    flat_b: dict[str, Any] = {}
    flat_c: dict[str, Any] = {}
    for block in _WORKLOAD_BLOCKS:
        _flatten(b.get(block), block, flat_b)
        _flatten(c.get(block), block, flat_c)
    return [
        f"{key}: {flat_b.get(key)!r} vs {flat_c.get(key)!r}"
        for key in sorted(set(flat_b) | set(flat_c))
        if flat_b.get(key) != flat_c.get(key) and _is_run_length(key) == run_length
    ]


def _side(samples: RunSamples, label: str) -> RunSide:
    return RunSide(
        label=label, directory=samples.directory, run_id=samples.run_id,
        protocol=samples.protocol, n_requests=samples.n_requests, n_tasks=len(samples.tasks),
        state=samples.state, state_reason=samples.state_reason, warmup=samples.warmup,
        warmup_excluded=samples.warmup_excluded, warnings=tuple(samples.warnings),
    )  # fmt: skip


def _labels(baseline: RunSamples, candidate: RunSamples) -> tuple[str, str]:
    b, c = baseline.label, candidate.label
    if b == c:  # the same system twice (A/A, repeats): the directories tell them apart
        b, c = f"{b} ({baseline.directory.name})", f"{c} ({candidate.directory.name})"
    return b, c


def compare_runs(
    baseline: Path,
    candidate: Path,
    *,
    metrics: Sequence[str] | None = None,
    seed: int = 0,
    band: float = DEFAULT_BAND,
    confidence: float = 0.95,
    force: bool = False,
    trim_warmup: bool = False,
    resamples: int = 2000,
    primary: str = "p50",
) -> RunComparison:
    """Compares two results directories (docs/comparison.md).

    Raises IncompatibleRunsError naming what differs when the workloads differ, unless
    `force`. `metrics` None: every metric either run has (DEFAULT_METRICS). A metric that
    either run lacks, or that means different things on the two runs'
    protocols, is listed in `not_compared` with the reason. `trim_warmup` leaves out the
    requests MSER-5 marks as warm-up (said in the run's side and the notes); by default the
    warm-up is reported only, since a cold start may be the very thing compared. `primary`
    (p50, p95 or p99) is the ratio each unpaired row's verdict and sentence read.
    """
    asked = metrics is not None
    metrics = DEFAULT_METRICS if metrics is None else tuple(metrics)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; known: {', '.join(METRICS)}")
    if primary not in RATIO_STATISTICS:
        raise ValueError(f"primary must be one of {RATIO_STATISTICS}, got {primary!r}")
    b = read_samples(load_run(baseline), trim_warmup=trim_warmup)
    c = read_samples(load_run(candidate), trim_warmup=trim_warmup)
    differences = workload_differences(b, c)
    if differences and not force:
        raise IncompatibleRunsError(
            f"{baseline} and {candidate} ran different workloads: " + "; ".join(differences),
            hint="compare runs of the same workload, or pass --force to compare anyway "
            "(the report then lists these differences)",
        )
    b_label, c_label = _labels(b, c)
    options = RowOptions(b_label, c_label, seed, band, confidence, resamples, primary)
    rows, not_compared = _rows(metrics, b, c, options, asked=asked)
    return RunComparison(
        baseline=_side(b, b_label), candidate=_side(c, c_label), rows=rows,
        not_compared=not_compared, differences=differences, forced=bool(differences),
        band=band, confidence=confidence, seed=seed, notes=_notes(b, c, options, differences),
    )  # fmt: skip


def _rows(
    metrics: Sequence[str], b: RunSamples, c: RunSamples, options: RowOptions, *, asked: bool
) -> tuple[list[MetricRow], list[str]]:
    """The rows compared (Holm-adjusted across them) and 'metric: why' for the others."""
    rows: list[MetricRow] = []
    not_compared: list[str] = []
    for metric in metrics:
        row = compare_metric(METRICS[metric], b, c, options)
        if isinstance(row, str):
            if row == NEITHER and not asked:
                continue  # a default metric neither run has (tasks of a token run): not news
            not_compared.append(f"{metric}: {row}")
        else:
            rows.append(row)
    adjusted = holm([row.p_value for row in rows])
    return [rejudge(row, p, options) for row, p in zip(rows, adjusted, strict=True)], not_compared


def _notes(b: RunSamples, c: RunSamples, o: RowOptions, differences: list[str]) -> list[str]:
    notes = [f"{label}: {note}" for side, label in ((b, o.baseline), (c, o.candidate))
             for note in side.notes]  # fmt: skip
    if differences:
        notes.insert(0, "forced: the workloads differ (" + "; ".join(differences) + ")")
    if b.spec is not None and c.spec is not None:
        lengths = workload_differences(b, c, run_length=True)
        notes += [f"run length differs: {d}" for d in lengths]
    return notes


def run_directories(paths: Sequence[Path]) -> list[Path]:
    """Each path as results directories: a run (run.json or records.jsonl) as itself, a study
    (or any folder of runs) as its run subdirectories in name order, at any depth."""
    out: list[Path] = []
    for path in paths:
        if not path.is_dir():
            raise StoreError(f"{path} is not a directory", hint="pass results or study folders")
        if (path / RUN_FILE).exists() or (path / RECORDS_FILE).exists():
            out.append(path)
            continue
        found = run_directories(sorted(p for p in path.iterdir() if p.is_dir()))
        if not found:
            raise StoreError(
                f"{path} holds no run", hint="pass a results directory (with run.json) or a study"
            )
        out.extend(found)
    return out


def _workload_key(directory: Path) -> str:
    """Runs with equal keys ran the same workload and load (what `workload_differences` reads)."""
    path = directory / RUN_FILE
    if not path.exists():
        return f"unknown:{directory}"
    spec = by_contents(read_run_file(path).spec.model_dump(mode="json"))
    flat: dict[str, Any] = {}
    for block in _WORKLOAD_BLOCKS:
        _flatten(spec.get(block), block, flat)
    return json.dumps({k: v for k, v in flat.items() if not _is_run_length(k)}, sort_keys=True)


def _names(directory: Path) -> set[str]:
    names = {directory.name, str(directory)}
    path = directory / RUN_FILE
    if path.exists():
        run = read_run_file(path)
        names |= {run.run_id, run.target.id, *([run.spec.name] if run.spec.name else [])}
    return names


@dataclass(frozen=True, slots=True)
class Pairing:
    """(baseline, candidate) pairs, and why each run left out was left out (said, not hidden)."""

    pairs: list[tuple[Path, Path]]
    skipped: list[str]


def _listed(group: Sequence[Path]) -> str:
    return ", ".join(d.name for d in group)


def pair_runs(directories: Sequence[Path], baseline: str | None = None) -> Pairing:
    """(baseline, candidate) pairs: runs grouped by workload; in each group the run named
    `baseline` (directory name or path, run id, target id or spec name; default: the group's
    first) against each other. Two runs of different workloads make one pair (which
    `compare_runs` refuses unless forced). A group without a run named `baseline`, and a run
    alone with its workload, are left out with a note. Raises ConfigError when nothing can be
    paired."""
    groups: dict[str, list[Path]] = {}
    for directory in directories:
        groups.setdefault(_workload_key(directory), []).append(directory)
    considered = list(groups.values())
    multi = [g for g in considered if len(g) >= 2]
    if not multi and len(directories) == 2:  # two runs given alone: one pair, checked later
        considered = multi = [list(directories)]
    if not multi:
        raise ConfigError(
            f"nothing to compare among {len(directories)} run(s): no two ran the same workload",
            hint="pass two results directories, or a study with several targets",
        )
    pairs: list[tuple[Path, Path]] = []
    skipped: list[str] = []
    for group in considered:
        if len(group) < 2:
            skipped.append(f"run {_listed(group)}: no other run ran its workload")
            continue
        base = group[0]
        if baseline is not None:
            named = [d for d in group if baseline in _names(d)]
            if not named:
                skipped.append(f"runs {_listed(group)} (one workload): no run named {baseline!r}")
                continue
            base = named[0]
        pairs.extend((base, other) for other in group if other != base)
    if not pairs:
        raise ConfigError(
            f"no run is named {baseline!r} in any group of runs of one workload: "
            + "; ".join(_listed(g) for g in multi),
            where="--baseline",
            hint="give a run's directory name, run id, target id or --name",
        )
    return Pairing(pairs, skipped)


@dataclass(frozen=True, slots=True)
class ComparedDirs:
    """What `compare_dirs` compared, and the notes on the runs it left out."""

    results: list[RunComparison]
    skipped: list[str]


def compare_dirs(
    paths: Sequence[Path], *, baseline: str | None = None, **options: Any
) -> ComparedDirs:
    """`compare_runs` over every pair `pair_runs` makes of the runs under `paths` (results or
    study directories); `options` are `compare_runs`'s keywords."""
    pairing = pair_runs(run_directories(paths), baseline)
    results = [compare_runs(b, c, **options) for b, c in pairing.pairs]
    return ComparedDirs(results, pairing.skipped)
