"""Statistics of a multi-turn session run (docs/metrics.md, "Sessions"): per turn index (TTFT,
E2E, prompt tokens, the cached-token share the server reported), per session (duration, think
waits, model time, turns/s) and the two comparisons the seed asks for: the first (cold) turn
against later turns, and turns the server served with no cached prefix against turns that
reused one. Warm-up records and sessions are left out; failed ones are counted, never dropped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from llmbench.metrics.request import e2e_ns, ttft_ns
from llmbench.metrics.stats import FloatArray, gated_percentile
from llmbench.records import RequestRecord
from llmbench.tasks import TaskRecord, TaskStatus

CACHED_SHARE_BASIS = (
    "sum of usage.prompt_tokens_details.cached_tokens / sum of usage.prompt_tokens, over the "
    "ok requests whose response reported cached_tokens"
)
_RESAMPLES = 2000


@dataclass(frozen=True, slots=True)
class _Turn:
    turn: int
    ok: bool
    ttft_ms: float | None
    e2e_ms: float | None
    prompt_tokens: int | None
    cached_tokens: int | None


def _ms(ns: int | float | None) -> float | None:
    return None if ns is None else ns / 1e6


def brief(values: Iterable[float]) -> dict[str, Any]:
    """n, mean, P50, P95 (a percentile only where n supports it) of one sample."""
    s = np.sort(np.fromiter(values, dtype=np.float64))
    if s.size == 0:
        return {"n": 0, "mean": None, "p50": None, "p95": None}
    return {"n": int(s.size), "mean": float(s.mean()), "p50": gated_percentile(s, 50),
            "p95": gated_percentile(s, 95)}  # fmt: skip


def cached_share(turns: Iterable[_Turn]) -> dict[str, Any]:
    """Cached prompt tokens over prompt tokens, of the ok requests that reported both."""
    reporting = [t for t in turns if t.ok and t.cached_tokens is not None and t.prompt_tokens]
    cached = sum(t.cached_tokens or 0 for t in reporting)
    prompt = sum(t.prompt_tokens or 0 for t in reporting)
    return {
        "requests_reporting": len(reporting),
        "cached_tokens": cached,
        "prompt_tokens": prompt,
        "share": cached / prompt if prompt else None,
        "basis": CACHED_SHARE_BASIS,
    }


def _turn_stats(turn: int, rows: list[_Turn]) -> dict[str, Any]:
    ok = [r for r in rows if r.ok]
    prompts = [r.prompt_tokens for r in ok if r.prompt_tokens is not None]
    return {
        "turn": turn,
        "n": len(ok),
        "errors": len(rows) - len(ok),
        "ttft_ms": brief(r.ttft_ms for r in ok if r.ttft_ms is not None),
        "e2e_ms": brief(r.e2e_ms for r in ok if r.e2e_ms is not None),
        "prompt_tokens_mean": float(np.mean(prompts)) if prompts else None,
        "cached": cached_share(rows),
    }


def median_ratio_ci(
    a: FloatArray, b: FloatArray, *, seed: int, confidence: float = 0.95
) -> tuple[float, float] | None:
    """Bootstrap CI (percentile method, seeded; each group resampled on its own) of
    median(b) / median(a); None below 2 values a group or with a zero median."""
    if a.size < 2 or b.size < 2:
        return None
    rng = np.random.default_rng(seed)
    ma = np.median(rng.choice(a, (_RESAMPLES, a.size)), axis=1)
    mb = np.median(rng.choice(b, (_RESAMPLES, b.size)), axis=1)
    if np.any(ma <= 0):
        return None
    ratios = mb / ma
    tail = (1 - confidence) / 2 * 100
    return float(np.percentile(ratios, tail)), float(np.percentile(ratios, 100 - tail))


def compare(a: list[_Turn], b: list[_Turn], labels: tuple[str, str], seed: int) -> dict[str, Any]:
    """TTFT of group `a` against group `b` (ok requests): both described, median(b)/median(a)."""
    ta = np.array([t.ttft_ms for t in a if t.ok and t.ttft_ms is not None], dtype=np.float64)
    tb = np.array([t.ttft_ms for t in b if t.ok and t.ttft_ms is not None], dtype=np.float64)
    ratio = None
    if ta.size and tb.size and np.median(ta) > 0:
        ratio = float(np.median(tb) / np.median(ta))
    ci = median_ratio_ci(ta, tb, seed=seed)

    def tokens(group: list[_Turn]) -> float | None:
        known = [t.prompt_tokens for t in group if t.ok and t.prompt_tokens is not None]
        return float(np.mean(known)) if known else None

    return {
        "a": labels[0],
        "b": labels[1],
        "ttft_ms_a": brief(ta),
        "ttft_ms_b": brief(tb),
        "prompt_tokens_mean_a": tokens(a),
        "prompt_tokens_mean_b": tokens(b),
        "ttft_p50_ratio_b_over_a": ratio,
        "ratio_ci": list(ci) if ci is not None else None,
    }


def _per_session(tasks: Iterable[TaskRecord]) -> dict[str, Any]:
    sessions = [t for t in tasks if not t.warmup and t.name == "session"]
    done = [t for t in sessions if t.status is TaskStatus.OK and t.ended_ns is not None]
    durations = [(t.ended_ns or 0) - t.submitted_ns for t in done]
    turns = [sum(1 for s in t.steps if s.kind == "model" and s.ended_ns) for t in done]
    return {
        "sessions": len(sessions),
        "ok": len(done),
        "failed": sum(1 for t in sessions if t.status is TaskStatus.ERROR),
        "cancelled": sum(1 for t in sessions if t.status is TaskStatus.CANCELLED),
        "duration_s": brief(d / 1e9 for d in durations),
        "think_s": brief(t.waiting_ns / 1e9 for t in done),
        "model_s": brief((d - t.waiting_ns) / 1e9 for d, t in zip(durations, done, strict=True)),
        "turns_per_s": brief(n / (d / 1e9) for n, d in zip(turns, durations, strict=True) if d),
    }


def session_summary(
    records: Iterable[RequestRecord], tasks: Iterable[TaskRecord], *, seed: int = 0
) -> dict[str, Any]:
    """`per_turn`, `per_session`, `first_vs_later` and `new_vs_continued` (None when no
    response reported cached tokens) of the measured records and session task records."""
    by_turn: dict[int, list[_Turn]] = defaultdict(list)
    for r in records:
        if r.warmup or r.turn is None:
            continue
        by_turn[r.turn].append(_Turn(r.turn, r.ok, _ms(ttft_ns(r)), _ms(e2e_ns(r)),
                                     r.input_tokens, r.cached_tokens))  # fmt: skip
    rows = [t for turn in sorted(by_turn) for t in by_turn[turn]]
    later = [t for t in rows if t.turn > 0]
    reported = [t for t in rows if t.ok and t.cached_tokens is not None]
    new_vs_continued = None
    if reported:
        fresh = [t for t in reported if t.cached_tokens == 0]
        reused = [t for t in reported if t.cached_tokens]
        labels = ("no cached prefix (new)", "cached prefix (continued)")
        new_vs_continued = compare(fresh, reused, labels, seed)
    return {
        "per_turn": [_turn_stats(turn, by_turn[turn]) for turn in sorted(by_turn)],
        "per_session": _per_session(tasks),
        "first_vs_later": (
            compare(by_turn.get(0, []), later, ("turn 0 (cold)", "turns >= 1"), seed)
            if later
            else None
        ),
        "new_vs_continued": new_vs_continued,
    }
