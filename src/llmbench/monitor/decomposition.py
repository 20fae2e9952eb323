"""Per-request latency decomposition: E2E split into parts that add up to it, per request.

Three ways, best first (definitions in docs/metrics.md):
- exact: the embedded simulator's log gives each request's engine phases (queued, admitted,
  first token) on the host's monotonic clock, which the client's timestamps share; the parts
  are the intervals between consecutive events, so they sum to E2E by construction.
- apportioned: the server's per-request histograms (vLLM's names: queue and prefill time) give
  their means over the run's window; each request's headers → first-token wait is split in
  those means' proportion to the client's mean wait. The per-request split is an estimate.
- none: the client's own intervals only (headers, first token, last token).
The client's send lag is reported beside, before E2E starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from llmbench.metrics.columns import RunColumns
from llmbench.monitor.server_metrics import ServerMetrics

MS = 1e6
Floats = np.ndarray[Any, np.dtype[np.float64]]
Split = Literal["exact", "apportioned", "none"]

# The parts whose per-request values add up to E2E, per way of splitting.
ADDITIVE = {
    "exact": ("intake", "queue_wait", "prefill", "first_token_delivery", "decode",
              "after_first_token"),
    "apportioned": ("ttfb", "queue_wait", "prefill", "first_token_other", "decode",
                    "after_headers"),
    "none": ("ttfb", "first_token_wait", "decode", "after_headers"),
}  # fmt: skip

BASIS = {
    "client_send_lag": "measured: sent − scheduled (before E2E starts)",
    "ttfb": "measured: network and server intake, sent → headers",
    "first_token_wait": "measured: headers → first token",
    "decode": "measured: first → last token",
    "after_headers": "measured: headers → end, no first token seen",
    "queue_wait_apportioned": "estimated: first-token wait × the server's mean queue time / "
    "the client's mean first-token wait",
    "prefill_apportioned": "estimated: first-token wait × the server's mean prefill time / "
    "the client's mean first-token wait",
    "first_token_other": "estimated: first-token wait − queue wait − prefill (server intake "
    "after the headers, first-token delivery; and prefill where the server has no histogram "
    "of it)",
    "intake": "measured (simulator log, shared clock): sent → the engine could schedule it "
    "(network, server intake, request overhead)",
    "queue_wait_exact": "measured (simulator log): could be scheduled → first scheduled",
    "prefill_exact": "measured (simulator log): first scheduled → first token produced",
    "first_token_delivery": "measured (simulator log, shared clock): first token produced → "
    "received by the client",
    "after_first_token": "measured (simulator log, shared clock): first token produced → end, "
    "no first token seen",
}


@dataclass(frozen=True, slots=True)
class ServerPhases:
    """One request's engine phases as the simulator logged them (monotonic ns, the host's)."""

    queued_ns: int
    admitted_ns: int
    first_token_ns: int


class PartStats(BaseModel):
    """One part's basis (measured or estimated, and how), mean and P95 (ms), and count."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    basis: str
    mean_ms: float | None
    p95_ms: float | None
    n: int


class TaskParts(BaseModel):
    """run.json's `decomposition.tasks`: per part, its mean and P95 (ms) over ok agent-service
    tasks (their completion: submitted → end seen)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    tasks: int
    parts: dict[str, PartStats]
    additive: list[str]
    sum_check_max_ms: float | None  # max over tasks of |Σ parts − completion|


class Decomposition(BaseModel):
    """run.json's `decomposition` block: per part, its mean and P95 (ms) over measured ok
    requests, and whether it is measured or estimated."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    requests: int
    parts: dict[str, PartStats]
    sum_check_max_ms: float | None  # max over requests of |Σ additive parts − E2E|
    split_source: str | None  # where the queue/prefill split came from, or why none
    # exact (simulator log) | apportioned (server histograms) | none; absent in older files
    split: Split | None = None
    additive: list[str] | None = None  # the parts that sum to E2E per request (None: older)
    tasks: TaskParts | None = None  # agent-service tasks' completion, split (task runs only)


def stats(values: Floats, basis: str) -> PartStats:
    """A part's summary over the requests where it applies (NaN elsewhere)."""
    values = values[~np.isnan(values)]
    if not values.size:
        return PartStats(basis=basis, mean_ms=None, p95_ms=None, n=0)
    return PartStats(basis=basis, mean_ms=float(values.mean()) / MS,
                     p95_ms=float(np.percentile(values, 95)) / MS, n=int(values.size))  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Client:
    """The ok rows' client intervals (ns, NaN where not applicable)."""

    sent: Floats
    ttfb: Floats
    ttft: Floats
    e2e: Floats

    @property
    def streamed(self) -> np.ndarray[Any, np.dtype[np.bool_]]:
        return ~np.isnan(self.ttft)

    def base_parts(self) -> dict[str, Floats]:
        streamed = self.streamed
        return {
            "ttfb": self.ttfb,
            "first_token_wait": np.where(streamed, self.ttft - self.ttfb, np.nan),
            "decode": np.where(streamed, self.e2e - self.ttft, np.nan),
            "after_headers": np.where(streamed, np.nan, self.e2e - self.ttfb),
        }


def _exact(client: _Client, phases: list[ServerPhases | None]) -> dict[str, Floats]:
    """The intervals between the client's and the engine's events, per request with phases."""
    nan = np.nan
    q, a, f = (
        np.array([getattr(p, name) if p else nan for p in phases], dtype=np.float64)
        for name in ("queued_ns", "admitted_ns", "first_token_ns")
    )
    streamed = client.streamed
    first, end = client.sent + client.ttft, client.sent + client.e2e
    return {
        "intake": q - client.sent,
        "queue_wait": a - q,
        "prefill": f - a,
        "first_token_delivery": np.where(streamed, first - f, nan),
        "decode": np.where(streamed, end - first, nan),
        "after_first_token": np.where(streamed, nan, end - f),
    }


def _apportion(wait: Floats, server_metrics: ServerMetrics) -> tuple[dict[str, Floats] | None, str]:
    """queue_wait, prefill (where the server has its histogram: SGLang and TGI have none) and
    first_token_other per request from the server's histogram means, or None and why not."""
    histograms = server_metrics.histograms
    queue, prefill = histograms.get("queue_time_s"), histograms.get("prefill_time_s")
    if queue is None or queue.mean is None:
        return None, "no server queue histogram: first-token wait not split"
    means = {"queue_wait": queue.mean * 1e9}
    source = f"{server_metrics.engine} histograms over the run's window"
    if prefill is not None and prefill.mean is not None:
        means["prefill"] = prefill.mean * 1e9
    else:
        source += " (no prefill histogram: prefill stays in first_token_other)"
    total = sum(means.values())
    w_ns = float(np.nanmean(wait)) if (~np.isnan(wait)).any() else 0.0
    if total <= 0 or w_ns <= 0:
        return None, f"{source}: zero queue and prefill, or no first-token wait"
    if total <= w_ns:
        source += ": their means scaled onto each request's first-token wait"
    else:  # headers sent late, or other clients' requests in the histograms
        source += (
            f": their mean sum ({total / MS:.3g} ms) exceeds the client's mean "
            f"first-token wait ({w_ns / MS:.3g} ms), so the wait is split by their ratio"
        )
    scale = max(total, w_ns)
    values = {part: wait * (mean / scale) for part, mean in means.items()}
    values["first_token_other"] = wait - sum(values.values())
    return values, source


def _basis(part: str, split: str) -> str:
    return BASIS.get(f"{part}_{split}") or BASIS[part]


def _split(
    columns: RunColumns,
    client: _Client,
    server_metrics: ServerMetrics,
    phases: Mapping[str, ServerPhases] | None,
    phases_source: str | None,
) -> tuple[Split, dict[str, Floats], str | None]:
    """The best split the inputs allow: its name, its parts' values and where it came from."""
    missing = ""
    if phases is not None:
        found = [phases.get(i) for i in columns.ok_request_ids()]
        if any(found):
            return "exact", _exact(client, found), phases_source or "the simulator's log"
        missing = "no measured request in the simulator's log; "
    wait = np.where(client.streamed, client.ttft - client.ttfb, np.nan)
    apportioned, source = _apportion(wait, server_metrics)
    if apportioned is not None:
        return "apportioned", apportioned, missing + source
    return "none", {}, missing + source


def decompose(
    columns: RunColumns,
    server_metrics: ServerMetrics,
    phases: Mapping[str, ServerPhases] | None = None,
    phases_source: str | None = None,
) -> Decomposition:
    """The parts of each measured ok request's E2E, summarized: exactly from `phases` (the
    simulator's log by request id) when given, else apportioned from the server's histograms,
    else the client's intervals only."""
    ok = columns.ok_mask
    client = _Client(*(columns.floats(n)[ok] for n in ("sent_ns", "ttfb_ns", "ttft_ns", "e2e_ns")))
    split, found, source = _split(columns, client, server_metrics, phases, phases_source)
    values = client.base_parts() | found
    present = [n for n, v in values.items() if (~np.isnan(v)).any()]
    additive = [n for n in ADDITIVE[split] if n in present]
    lag = columns.floats("client_lag_ns")[ok]
    parts = {"client_send_lag": stats(lag, BASIS["client_send_lag"])}
    # The parts that add up to E2E first, in time order; the measured ones beside them after.
    for name in additive + [n for n in present if n not in additive]:
        parts[name] = stats(values[name], _basis(name, split))
    return Decomposition(
        requests=int(ok.sum()),
        parts=parts,
        sum_check_max_ms=_sum_check(values, additive, client.e2e, split == "exact"),
        split_source=source,
        split=split,
        additive=additive,
    )


def _sum_check(values: Mapping[str, Floats], additive: list[str], e2e: Floats,
               exact: bool) -> float | None:  # fmt: skip
    """max |Σ additive parts − E2E| (ms) over the checked requests. A part is NaN where it
    does not apply (a first token's parts on a request without one, and the reverse), so a
    row sums the parts it has; an exact row without the simulator's phases is not checked."""
    if not additive:
        return None
    total = np.nansum(np.vstack([values[p] for p in additive]), axis=0)
    checked = ~np.isnan(e2e)
    if exact:
        checked &= ~np.isnan(values["intake"])
    diff = np.abs(total - e2e)[checked]
    return float(diff.max()) / MS if diff.size else None
