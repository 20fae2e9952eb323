"""Reading the history: runs filtered by target, scenario, label and time; a stored run found
by its id or a label; a metric's trend across runs (read from each run's typed summary); and a
run's latency statistics recomputed from its stored request rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Select, exists, func, select
from sqlalchemy.engine import Connection, RowMapping

from llmbench.errors import StoreError
from llmbench.metrics.stats import percentiles
from llmbench.store.db.tables import requests, run_labels, runs

# Per-request metrics kept in the request rows (ns), as `summary` names them (ms).
ROW_METRICS = {"ttfb_ms": "ttfb_ns", "ttft_ms": "ttft_ns", "ttfo_ms": "ttfo_ns", "e2e_ms": "e2e_ns"}
STATISTICS = ("n", "mean", "std", "min", "p5", "p50", "p90", "p95", "p99", "max")


@dataclass(frozen=True, slots=True)
class StoredRun:
    pk: int
    run_id: str
    status: str
    started_at: datetime
    target: str
    model: str | None
    scenario: str
    labels: list[str]
    spec_hash: str
    n_requests: int
    summary: dict[str, Any] | None
    counts: dict[str, Any] | None
    summary_source: str
    results_path: str

    @classmethod
    def of(cls, row: RowMapping) -> StoredRun:
        values = {name: row[name] for name in cls.__dataclass_fields__}
        started: datetime = values["started_at"]
        if started.tzinfo is None:  # SQLite keeps no zone: every stored time is UTC
            values["started_at"] = started.replace(tzinfo=UTC)
        return cls(**values)


@dataclass(frozen=True, slots=True)
class RunFilter:
    target: str | None = None
    scenario: str | None = None
    label: str | None = None
    since: datetime | None = None
    limit: int | None = None


def _columns() -> Select[Any]:
    return select(*(runs.c[name] for name in StoredRun.__dataclass_fields__))


def list_runs(connection: Connection, where: RunFilter = RunFilter()) -> list[StoredRun]:
    """Runs oldest first (the newest `limit` of them when a limit is given)."""
    query = _columns()
    if where.target is not None:
        query = query.where(runs.c.target == where.target)
    if where.scenario is not None:
        query = query.where(runs.c.scenario == where.scenario)
    if where.label is not None:
        labelled = (run_labels.c.run_pk == runs.c.pk) & (run_labels.c.label == where.label)
        query = query.where(exists().where(labelled))
    if where.since is not None:
        query = query.where(runs.c.started_at >= where.since)
    query = query.order_by(runs.c.started_at.desc(), runs.c.pk.desc())
    if where.limit is not None:
        query = query.limit(where.limit)
    found = [StoredRun.of(row) for row in connection.execute(query).mappings()]
    return found[::-1]


def find_run(connection: Connection, ref: str) -> StoredRun:
    """A run by its id, or else the newest run carrying `ref` as a label."""
    row = connection.execute(_columns().where(runs.c.run_id == ref)).mappings().first()
    if row is None:
        labelled = list_runs(connection, RunFilter(label=ref, limit=1))
        if labelled:
            return labelled[0]
        raise StoreError(
            f"no stored run has the id or label {ref!r}",
            hint="`llmbench history` lists the stored runs; or pass a results directory",
        )
    return StoredRun.of(row)


def metric_value(run: StoredRun, metric: str) -> float | None:
    """`ttft_ms.p50` (a distribution's statistic) or `requests_per_s` (a run-level number)
    from the run's stored summary; None where the run does not have it."""
    name, _, statistic = metric.partition(".")
    value = (run.summary or {}).get(name)
    if statistic:
        value = value.get(statistic) if isinstance(value, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def check_metric(metric: str, known: dict[str, Any]) -> None:
    """Refuses a metric no stored summary can have (`known`: one summary's blocks)."""
    name, _, statistic = metric.partition(".")
    block = known.get(name, ...)
    if block is ... or (statistic and (not isinstance(block, dict) or statistic not in block)):
        names = sorted(known)
        raise StoreError(
            f"{metric!r} is not a metric of the stored summaries",
            hint=f"METRIC.STATISTIC (e.g. ttft_ms.p50) or a run-level number; metrics: "
            f"{', '.join(names)}; statistics: {', '.join(STATISTICS)}",
        )


def request_stats(connection: Connection, run_pk: int) -> dict[str, dict[str, float | int | None]]:
    """n, mean and percentiles of each per-request metric over the run's measured ok requests,
    from its stored rows (linear percentiles, as the run's own summary)."""
    names = list(ROW_METRICS.values())
    query = select(*(requests.c[n] for n in names)).where(
        requests.c.run_pk == run_pk, requests.c.status == "ok", requests.c.warmup.is_(False)
    )
    rows = [tuple(row) for row in connection.execute(query)]  # numpy probes a Row's keys
    table = np.array(rows, dtype=np.float64).reshape(len(rows), len(names))
    out: dict[str, dict[str, float | int | None]] = {}
    for k, metric in enumerate(ROW_METRICS):
        values = table[:, k]
        values = values[~np.isnan(values)] / 1e6
        if values.size:  # a percentile only where n supports it (P95 from 20, P99 from 100)
            shown = percentiles(values, (50, 95, 99))
            out[metric] = {"n": int(values.size), "mean": float(values.mean()), **shown}
    return out


def request_counts(connection: Connection, run_pk: int) -> dict[str, int]:
    """Stored request rows by status (warm-up rows apart)."""
    query = (
        select(requests.c.status, requests.c.warmup, func.count())
        .where(requests.c.run_pk == run_pk)
        .group_by(requests.c.status, requests.c.warmup)
    )
    counts: dict[str, int] = {}
    for status, warmup, n in connection.execute(query):
        key = "warmup" if warmup else str(status)
        counts[key] = counts.get(key, 0) + int(n)
    return counts
