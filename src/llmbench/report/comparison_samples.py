"""One run's samples for a comparison, read from its stored records: per-request metrics of the
ok measured requests in send order, the ITL gaps with the request each came from, and the
measured tasks; with the run's warm-up check (MSER-5 on TTFT) and load state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from llmbench.metrics.compare import FloatArray, IntArray
from llmbench.metrics.delivery import latency_growth
from llmbench.metrics.request import itl_gaps_ns, request_table
from llmbench.metrics.stability import Verdict, classify, classify_without_objectives
from llmbench.metrics.warmup import WarmupCheck, mser5
from llmbench.records import RequestRecord
from llmbench.store.results import LoadedRun
from llmbench.tasks import TaskRecord, TaskStatus

_NS_PER_MS = 1e6
# Per-request metric → (request_table column, divisor to its unit).
PER_REQUEST = {
    "ttft_ms": ("ttft_ns", _NS_PER_MS),
    "ttfo_ms": ("ttfo_ns", _NS_PER_MS),
    "tpot_ms": ("tpot_ns", _NS_PER_MS),
    "e2e_ms": ("e2e_ns", _NS_PER_MS),
    "request_output_tokens_per_s": ("output_tokens_per_s", 1.0),
}


@dataclass(frozen=True, slots=True)
class Series:
    """A metric's sample: `values`, with `groups` (a cluster label per value) when values of one
    request are not independent, and `test` (one value per request) for the rank test then."""

    values: FloatArray
    groups: IntArray | None = None
    test: FloatArray | None = None
    keys: tuple[str, ...] | None = None  # a pairing key per value (tasks), else None


@dataclass(slots=True)
class RunSamples:
    directory: Path
    run_id: str | None
    label: str
    spec: dict[str, Any] | None
    records: list[RequestRecord]  # ok measured requests in send order (after any trim)
    tasks: list[TaskRecord]  # measured tasks in submit order
    state: Verdict
    state_reason: str
    warmup: WarmupCheck
    warmup_excluded: int = 0
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _table: dict[str, FloatArray] | None = None

    @property
    def n_requests(self) -> int:
        return len(self.records)

    @property
    def protocol(self) -> str:
        if self.records and self.tasks:
            return "token stream + tasks"
        if self.tasks:
            return "task API"
        return "token stream" if self.records else "no data"

    def table(self) -> dict[str, FloatArray]:
        if self._table is None:
            self._table = request_table(self.records)
        return self._table

    def per_request(self, metric: str) -> Series | None:
        """A per-request metric in its unit, 'not applicable' left out; None when empty."""
        column, divisor = PER_REQUEST[metric]
        values = self.table()[column]
        values = values[np.isfinite(values)] / divisor
        return Series(values) if values.size else None

    def itl(self) -> Series | None:
        """Pooled ITL gaps (ms) grouped by request; the test reads each request's median gap."""
        gaps = [itl_gaps_ns(r) for r in self.records]
        sizes = np.array([g.size for g in gaps], dtype=np.int64)
        if sizes.sum() == 0:
            return None
        values = np.concatenate(gaps).astype(np.float64) / _NS_PER_MS
        groups = np.repeat(np.arange(len(gaps), dtype=np.int64), sizes)
        medians = np.array([np.median(g) / _NS_PER_MS for g in gaps if g.size])
        return Series(values, groups, medians)

    def first_event(self) -> TaskTimes:
        """Per task: its first event's arrival − submission (ms); a task that ended without any
        event is censored at its end (it had shown nothing by then). Tasks llmbench drives
        itself (sessions, DAG tasks, the agent loop: no provider, no events in the whole run)
        have no first event to wait for: none."""
        if not any(t.events or t.provider_task_id is not None for t in self.tasks):
            return TaskTimes.of([])
        rows = []
        for key, t in zip(task_keys(self.tasks), self.tasks, strict=True):
            if t.events:
                rows.append((key, t.events[0].arrived_ns - t.submitted_ns, True))
            elif t.ended_ns is not None:
                rows.append((key, t.ended_ns - t.submitted_ns, False))
        return TaskTimes.of(rows)

    def completion(self) -> TaskTimes:
        """Per task with an end: end − submission (ms); a task that did not succeed (timeout,
        error, cancelled) is censored at its end: it had not succeeded by then."""
        rows = [
            (key, t.ended_ns - t.submitted_ns, t.status is TaskStatus.OK)
            for key, t in zip(task_keys(self.tasks), self.tasks, strict=True)
            if t.ended_ns is not None
        ]
        return TaskTimes.of(rows)


@dataclass(frozen=True, slots=True)
class TaskTimes:
    """Task times in ms with whether each was observed (False: right-censored there)."""

    times: FloatArray
    observed: npt.NDArray[np.bool_]
    keys: tuple[str, ...]

    @classmethod
    def of(cls, rows: list[tuple[str, int, bool]]) -> TaskTimes:
        times = np.array([ns for _, ns, _ in rows], dtype=np.float64) / _NS_PER_MS
        observed = np.array([ok for _, _, ok in rows], dtype=bool)
        return cls(times, observed, tuple(k for k, _, _ in rows))

    @property
    def censored(self) -> int:
        return int((~self.observed).sum())

    def series(self) -> Series | None:
        """The observed times as a sample (None when none), for when nothing is censored."""
        if not self.observed.any():
            return None
        keys = tuple(k for k, ok in zip(self.keys, self.observed, strict=True) if ok)
        return Series(self.times[self.observed], keys=keys)


def task_keys(tasks: list[TaskRecord]) -> list[str]:
    """A key per task that names the same task in another run of the same workload: its name
    and which occurrence of that name it is (a workload may run one task several times)."""
    seen: dict[str, int] = {}
    keys = []
    for task in tasks:
        k = seen.get(task.name, 0)
        seen[task.name] = k + 1
        keys.append(f"{task.name}#{k}")
    return keys


def _label(loaded: LoadedRun) -> str:
    run = loaded.run
    if run is not None:
        return run.spec.name or run.target.id or loaded.directory.name
    return loaded.directory.name


def _state(loaded: LoadedRun, measured: list[RequestRecord]) -> tuple[Verdict, str]:
    run = loaded.run
    valid = run is None or run.validity is None or run.validity.valid
    errors = sum(not r.ok for r in measured)
    error_rate = errors / len(measured) if measured else None
    growth = latency_growth(measured) if measured else None
    if run is not None and run.goodput is not None:
        state = classify(met=run.goodput.met, valid=valid, latency_growth=growth,
                         error_rate=error_rate)  # fmt: skip
    else:
        state = classify_without_objectives(
            valid=valid, latency_growth=growth, error_rate=error_rate
        )
    parts = []
    if not valid and run is not None and run.validity is not None:
        parts.append("invalid load: " + "; ".join(run.validity.reasons))
    if growth is not None:
        parts.append(f"latency from plan, last quarter / first: {growth:.2f}×")
    if error_rate is not None:
        parts.append(f"errors {errors}/{len(measured)}")
    return state, ", ".join(parts) or "no requests"


def read_samples(loaded: LoadedRun, *, trim_warmup: bool = False) -> RunSamples:
    """A loaded results directory as comparison samples (see `RunSamples`)."""
    measured = sorted((r for r in loaded.records if not r.warmup), key=lambda r: r.sent_ns)
    ok = [r for r in measured if r.ok]
    tasks = sorted((t for t in loaded.tasks if not t.warmup), key=lambda t: t.submitted_ns)
    table = request_table(ok)
    check = mser5(table["ttft_ns"] / _NS_PER_MS)
    if not ok and tasks:  # a task API run: check the task times instead
        check = mser5([(t.ended_ns - t.submitted_ns) / _NS_PER_MS for t in tasks if t.ended_ns])
    state, reason = _state(loaded, measured)
    run = loaded.run
    samples = RunSamples(
        directory=loaded.directory, run_id=run.run_id if run else None, label=_label(loaded),
        spec=run.spec.model_dump(mode="json") if run else None, records=ok, tasks=tasks,
        state=state, state_reason=reason, warmup=check, warnings=list(loaded.warnings),
        _table=table,
    )  # fmt: skip
    what = "TTFT" if ok else "task time"
    if trim_warmup and check.detected and check.reliable and ok:
        samples.records = ok[check.truncate :]
        samples._table = None
        samples.warmup_excluded = check.truncate
        samples.notes.append(f"warm-up excluded: {check.note(what)}")
    elif check.detected or not check.reliable:
        samples.notes.append(check.note(what) + " (kept: pass --trim-warmup to exclude)")
    if state is not Verdict.STABLE:
        samples.notes.append(f"load {state.value}: {reason}")
    return samples
