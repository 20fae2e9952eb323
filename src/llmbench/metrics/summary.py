"""The run summary: counts, latency distributions, run-level rates and token-count checks.

Warm-up records are counted but excluded from every statistic; latency statistics cover OK
requests only. Values are converted from ns to ms here, at the output boundary (`*_ms` keys).
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from llmbench.metrics.request import FloatArray, IntArray, pooled_itl_ns, request_table
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
    """The ok measured records' metric samples in output units, with their request ids."""

    def __init__(self, ok: Sequence[RequestRecord]) -> None:
        self.request_ids = np.array([r.request_id for r in ok], dtype=object)
        self.table = request_table(ok)
        gaps_ns, per_token_ns = pooled_itl_ns(ok)
        self.itl_ms = gaps_ns / _NS_PER_MS
        self.itl_per_token_ms = per_token_ns / _NS_PER_MS

    def column(self, key: str) -> tuple[FloatArray, IntArray]:
        """(values, row numbers of the rows that have one): 'not applicable' rows left out."""
        name, scale = _PER_REQUEST[key]
        col = self.table[name]
        rows = np.flatnonzero(~np.isnan(col))
        return col[rows] / scale, rows


def _split(records: Sequence[RequestRecord]) -> tuple[list[RequestRecord], list[RequestRecord]]:
    measured = [r for r in records if not r.warmup]
    return measured, [r for r in measured if r.ok]


def _counts(records: Sequence[RequestRecord], measured: Sequence[RequestRecord]) -> dict[str, Any]:
    errors = [r for r in measured if not r.ok]
    by_category = Counter(r.error.category.value if r.error else "unknown" for r in errors)
    statuses = (r.http_status or (r.error.http_status if r.error else None) for r in measured)
    by_status = Counter(str(s) for s in statuses if s is not None)
    return {
        "ok": len(measured) - len(errors),
        "error": len(errors),
        "warmup": len(records) - len(measured),
        "by_category": dict(sorted(by_category.items())),
        "by_http_status": dict(sorted(by_status.items())),
        # --retry-429: requests sent more than once, and the extra attempts (all HTTP 429)
        "retried": sum(1 for r in measured if r.attempts > 1),
        "retry_attempts": sum(r.attempts - 1 for r in measured),
    }


def _rates(measured: Sequence[RequestRecord], ok: Sequence[RequestRecord]) -> dict[str, Any]:
    ends = [r.end_ns for r in measured if r.end_ns is not None]
    duration_ns = max(ends) - min(r.sent_ns for r in measured) if ends else 0
    duration_s = duration_ns / 1e9 if duration_ns > 0 else None
    counted = [r.output_tokens for r in ok if r.output_tokens is not None]
    return {
        "output_tokens_per_s": sum(counted) / duration_s if duration_s and counted else None,
        "requests_per_s": len(ok) / duration_s if duration_s else None,
        "duration_s": duration_s,
        "error_rate": (len(measured) - len(ok)) / len(measured) if measured else None,
    }


def _mean_or_none(values: list[int]) -> float | None:
    return sum(values) / len(values) if values else None


def _tokens(ok: Sequence[RequestRecord]) -> dict[str, Any]:
    sources = Counter(r.output_tokens_source for r in ok if r.output_tokens_source)
    source_counts = {s.value: sources.get(s, 0) for s in CountSource}
    both = [
        abs(r.usage_output_tokens - r.tokenizer_output_tokens)
        for r in ok
        if r.usage_output_tokens is not None and r.tokenizer_output_tokens is not None
    ]
    vs_requested = [
        r.output_tokens - r.requested_output_tokens
        for r in ok
        if r.output_tokens is not None and r.requested_output_tokens is not None
    ]
    return {
        "source_counts": source_counts,
        "chunk_count_fallback": source_counts[CountSource.CHUNKS.value],
        "usage_vs_tokenizer": {
            "n_compared": len(both),
            "n_different": sum(1 for d in both if d),
            "mean_abs_diff": _mean_or_none(both),
            "max_abs_diff": max(both) if both else None,
        },
        "requested_vs_generated": {
            "n_compared": len(vs_requested),
            "n_short": sum(1 for d in vs_requested if d < 0),
            "n_long": sum(1 for d in vs_requested if d > 0),
            "mean_diff": _mean_or_none(vs_requested),
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
    for key in _PER_REQUEST:
        values, rows = samples.column(key)
        stats = describe(values, seed=seed, max_indices=MAX_LISTED)
        summary[key] = stats
        if key in _OUTLIER_METRICS:
            beyond = (stats["outliers"] or {}).get("indices_beyond_3") or []
            ids = samples.request_ids[rows[beyond]].tolist()
            outliers[key] = _outlier_entry(stats, ids)
    summary["itl_ms"] = describe(samples.itl_ms, seed=seed, max_indices=MAX_LISTED)
    if np.array_equal(samples.itl_per_token_ms, samples.itl_ms):
        # One token per chunk (the usual case): the same sample, so the same statistics, without
        # describing millions of gaps twice.
        summary["itl_per_token_ms"] = copy.deepcopy(summary["itl_ms"])
    else:
        summary["itl_per_token_ms"] = describe(
            samples.itl_per_token_ms, seed=seed, max_indices=MAX_LISTED
        )
    return {key: summary[key] for key in _ORDER}, outliers


def summarize_run(records: Sequence[RequestRecord], *, seed: int = 0) -> dict[str, Any]:
    """JSON-ready summary of one run: covers, counts, summary, tokens, outliers.

    Outlier indices inside each `describe` point into that metric's sample (ok measured records
    that have the metric, in input order); at most MAX_LISTED are listed.
    """
    measured, ok = _split(records)
    samples = _Samples(ok)
    summary, outliers = _distributions(samples, seed)
    summary.update(_rates(measured, ok))
    return {
        "covers": {
            "records": len(records),
            "warmup": len(records) - len(measured),
            "measured": len(measured),
            "ok": len(ok),
            "latency_stats_over": LATENCY_STATS_OVER,
        },
        "counts": _counts(records, measured),
        "summary": summary,
        "tokens": _tokens(ok),
        "outliers": outliers,
    }


def three_sigma(records: Sequence[RequestRecord], seed: int = 0) -> dict[str, Any]:
    """The 3σ view (what the rule would drop) of ttft_ms, e2e_ms, tpot_ms and itl_ms.

    Over ok measured records, like the latency statistics; a view only, nothing is removed.
    """
    _, ok = _split(records)
    samples = _Samples(ok)
    out: dict[str, Any] = {"latency_stats_over": LATENCY_STATS_OVER}
    for key in ("ttft_ms", "e2e_ms", "tpot_ms"):
        values, _ = samples.column(key)
        out[key] = three_sigma_view(values, seed=seed, max_indices=MAX_LISTED)
    out["itl_ms"] = three_sigma_view(samples.itl_ms, seed=seed, max_indices=MAX_LISTED)
    return out
