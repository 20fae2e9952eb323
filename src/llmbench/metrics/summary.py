"""The run summary: counts, latency distributions, run-level rates and token-count checks.

Warm-up records are counted but excluded from every statistic; latency statistics cover OK
requests only. Values are converted from ns to ms here, at the output boundary (`*_ms` keys).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from llmbench.metrics.columns import NONE, RunColumns, TokenTally, as_columns
from llmbench.metrics.request import FloatArray, IntArray
from llmbench.metrics.stats import describe, three_sigma_view
from llmbench.records import CountSource, RequestRecord

LATENCY_STATS_OVER = "ok requests, warm-up excluded"
MAX_LISTED = 50  # outlier indices / request ids listed per metric; counts are always complete
_NS_PER_MS = 1e6

# Output key → (request_table column, scale from the column's unit to the output unit).
_PER_REQUEST = {
    "ttfb_ms": ("ttfb_ns", _NS_PER_MS),
    "ttft_ms": ("ttft_ns", _NS_PER_MS),
    "ttfo_ms": ("ttfo_ns", _NS_PER_MS),
    "tpot_ms": ("tpot_ns", _NS_PER_MS),
    "ntpot_ms": ("ntpot_ns", _NS_PER_MS),
    "e2e_ms": ("e2e_ns", _NS_PER_MS),
    "tokens_per_chunk": ("tokens_per_chunk", 1.0),
    "request_output_tokens_per_s": ("output_tokens_per_s", 1.0),
    "client_lag_ms": ("client_lag_ns", _NS_PER_MS),
    "scheduled_ttft_ms": ("scheduled_ttft_ns", _NS_PER_MS),
    "scheduled_e2e_ms": ("scheduled_e2e_ns", _NS_PER_MS),
    "input_tokens": ("input_tokens", 1.0),
    "output_tokens": ("output_tokens", 1.0),
}
_OUTLIER_METRICS = ("ttft_ms", "e2e_ms", "tpot_ms")
_POOLED = ("itl_ms", "itl_per_token_ms")
_ORDER = ("ttfb_ms", "ttft_ms", "ttfo_ms", *_POOLED, *[k for k in _PER_REQUEST if k[:3] != "ttf"])


class _Samples:
    """The ok measured requests' metric samples in output units, with their request ids."""

    def __init__(self, columns: RunColumns) -> None:
        self.per_token_differs = columns.per_token_differs
        self._columns = columns

    @functools.cached_property
    def table(self) -> dict[str, FloatArray]:
        """The per-request columns, made when first asked: after the pooled ITL samples are
        described, so the two large things never share the peak."""
        return self._columns.table()

    def request_ids_at(self, rows: list[int]) -> list[str]:
        return self._columns.ok_request_ids_at(rows)  # a few listed ids, not all decoded

    # The pooled ITL samples hold millions of values: each is made when asked, as one array,
    # and dropped by the caller once described, so only one exists at a time.
    def itl_ms(self) -> FloatArray:
        return self._columns.pooled_itl_scaled(_NS_PER_MS)

    def itl_per_token_ms(self) -> FloatArray:
        return self._columns.pooled_itl_per_token_scaled(_NS_PER_MS)

    def column(self, key: str) -> tuple[FloatArray, IntArray]:
        """(values, row numbers of the rows that have one): 'not applicable' rows left out."""
        name, scale = _PER_REQUEST[key]
        col = self.table[name]
        rows = np.flatnonzero(~np.isnan(col))
        return col[rows] / scale, rows


def _counts(columns: RunColumns) -> dict[str, Any]:
    tally = columns.counts
    errors = sum(tally.by_category.values())
    return {
        "ok": columns.n_measured - errors,
        "error": errors,
        "warmup": columns.n_warmup,
        "by_category": dict(sorted(tally.by_category.items())),
        "by_http_status": dict(sorted(tally.by_http_status.items())),
        # --retry-429: requests sent more than once, and the extra attempts (all HTTP 429)
        "retried": tally.retried,
        "retry_attempts": tally.retry_attempts,
        # complete streams that closed after their finish_reason without `data: [DONE]`
        "no_done": tally.no_done,
        # requests resent once because the server had closed their pooled connection
        "reconnected": tally.reconnected,
    }


def _rates(columns: RunColumns) -> dict[str, Any]:
    ends = columns.ints("end_ns")
    ends = ends[ends != NONE]
    sent = columns.ints("sent_ns")
    duration_ns = int(ends.max()) - int(sent.min()) if ends.size else 0
    duration_s = duration_ns / 1e9 if duration_ns > 0 else None
    tally, measured = columns.counts, columns.n_measured
    n_ok = measured - sum(tally.by_category.values())
    counted = tally.ok_output_counted
    return {
        "output_tokens_per_s": tally.ok_output_tokens / duration_s
        if duration_s and counted
        else None,
        "requests_per_s": n_ok / duration_s if duration_s else None,
        "duration_s": duration_s,
        "error_rate": (measured - n_ok) / measured if measured else None,
    }


def _payload(columns: RunColumns, seed: int, duration_s: float | None) -> dict[str, Any]:
    """`payload_bytes` (request body sizes) and `images_per_s` (image parts of ok requests per
    second of the run), over ok measured requests; absent when no record has a body size (a run
    written before they were recorded)."""
    ok = columns.ok_mask
    sizes = columns.ints("payload_bytes")[ok]
    if not (sizes != NONE).any():
        return {}
    sizes = sizes[sizes != NONE].astype(np.float64)
    images = columns.ints("images")[ok]
    total_images = int(images[images != NONE].sum())
    return {
        "payload_bytes": describe(sizes, seed=seed, max_indices=MAX_LISTED),
        "images_per_s": total_images / duration_s if duration_s else None,
    }


def _mean_or_none(total: int, n: int) -> float | None:
    return total / n if n else None


def _tokens(tally: TokenTally) -> dict[str, Any]:
    source_counts = {s.value: tally.sources.get(s, 0) for s in CountSource}
    return {
        "source_counts": source_counts,
        "chunk_count_fallback": source_counts[CountSource.CHUNKS.value],
        "usage_vs_tokenizer": {
            "n_compared": tally.both_n,
            "n_different": tally.both_different,
            "mean_abs_diff": _mean_or_none(tally.both_abs_sum, tally.both_n),
            "max_abs_diff": tally.both_abs_max,
        },
        "requested_vs_generated": {
            "n_compared": tally.vs_requested_n,
            "n_short": tally.vs_requested_short,
            "n_long": tally.vs_requested_long,
            "mean_diff": _mean_or_none(tally.vs_requested_sum, tally.vs_requested_n),
        },
    }


def _outlier_entry(stats: dict[str, Any], request_ids: list[str]) -> dict[str, Any]:
    flags = stats["outliers"]
    if flags is None:  # empty sample
        return {"n_beyond_1_5": None, "n_beyond_3": None, "request_ids_beyond_3": []}
    return {
        "n_beyond_1_5": flags["n_beyond_1_5"],
        "n_beyond_3": flags["n_beyond_3"],
        "request_ids_beyond_3": request_ids,
    }


def _distributions(samples: _Samples, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    summary: dict[str, Any] = {}
    outliers: dict[str, Any] = {}
    # The pooled samples first (the largest arrays), then the per-request table.
    summary["itl_ms"] = describe(samples.itl_ms(), seed=seed, max_indices=MAX_LISTED)
    if not samples.per_token_differs:
        # One token per chunk (the usual case): the same sample, so the same statistics, without
        # describing millions of gaps twice.
        summary["itl_per_token_ms"] = copy.deepcopy(summary["itl_ms"])
    else:
        summary["itl_per_token_ms"] = describe(
            samples.itl_per_token_ms(), seed=seed, max_indices=MAX_LISTED
        )
    for key in _PER_REQUEST:
        values, rows = samples.column(key)
        stats = describe(values, seed=seed, max_indices=MAX_LISTED)
        summary[key] = stats
        if key in _OUTLIER_METRICS:
            beyond = (stats["outliers"] or {}).get("indices_beyond_3") or []
            ids = samples.request_ids_at(rows[beyond].tolist())
            outliers[key] = _outlier_entry(stats, ids)
    return {key: summary[key] for key in _ORDER}, outliers


def summarize_run(
    records: Sequence[RequestRecord] | RunColumns, *, seed: int = 0
) -> dict[str, Any]:
    """JSON-ready summary of one run: covers, counts, summary, tokens, outliers.

    From the records, or from the `RunColumns` a run fed as they finished (the same result).
    Outlier indices inside each `describe` point into that metric's sample (ok measured records
    that have the metric, in input order); at most MAX_LISTED are listed.
    """
    columns = as_columns(records)
    samples = _Samples(columns)
    summary, outliers = _distributions(samples, seed)
    summary.update(_rates(columns))
    summary.update(_payload(columns, seed, summary["duration_s"]))
    measured = columns.n_measured
    return {
        "covers": {
            "records": columns.n_records,
            "warmup": columns.n_warmup,
            "measured": measured,
            "ok": measured - sum(columns.counts.by_category.values()),
            "latency_stats_over": LATENCY_STATS_OVER,
        },
        "counts": _counts(columns),
        "summary": summary,
        "tokens": _tokens(columns.tokens),
        "outliers": outliers,
    }


def three_sigma(records: Sequence[RequestRecord] | RunColumns, seed: int = 0) -> dict[str, Any]:
    """The 3σ view (what the rule would drop) of ttft_ms, e2e_ms, tpot_ms and itl_ms.

    Over ok measured records, like the latency statistics; a view only, nothing is removed.
    """
    samples = _Samples(as_columns(records))
    itl = three_sigma_view(samples.itl_ms(), seed=seed, max_indices=MAX_LISTED)  # largest first
    out: dict[str, Any] = {"latency_stats_over": LATENCY_STATS_OVER}
    for key in ("ttft_ms", "e2e_ms", "tpot_ms"):
        values, _ = samples.column(key)
        out[key] = three_sigma_view(values, seed=seed, max_indices=MAX_LISTED)
    out["itl_ms"] = itl
    return out
