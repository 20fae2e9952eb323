"""The gap sentence names the part that carries most of a gap in mean E2E, with its share, from
the stored decompositions: between targets and along a target's concurrency steps; a gap of a
few percent, or runs with no part in common, say nothing."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from llmbench.monitor.decomposition import Decomposition, PartStats
from llmbench.report.messages import Messages
from llmbench.report.source import ReportSource, RunEntry
from llmbench.report.why_gap import gap_sentences

EN = Messages("en")


def _decomposition(parts: dict[str, float], split: str = "exact") -> Decomposition:
    parts = {p: float(v) for p, v in parts.items()}
    return Decomposition(
        requests=10,
        parts={p: PartStats(basis="measured", mean_ms=v, p95_ms=v, n=10) for p, v in parts.items()},
        sum_check_max_ms=0.0,
        split_source="log",
        split=split,  # type: ignore[arg-type]
        additive=list(parts),
    )


def _entry(target: str, scenario: str, concurrency: int, parts: dict[str, float]) -> RunEntry:
    run = SimpleNamespace(
        summary=SimpleNamespace(e2e_ms=SimpleNamespace(mean=float(sum(parts.values())))),
        decomposition=_decomposition(parts),
        spec=SimpleNamespace(load=SimpleNamespace(concurrency=concurrency)),
    )
    return RunEntry(Path(target), run, target, scenario, f"c{concurrency}")  # type: ignore[arg-type]


def test_the_gap_between_targets_is_mostly_queueing() -> None:
    fast = _entry(
        "local", "baseline", 4, {"intake": 5, "queue_wait": 10, "prefill": 30, "decode": 55}
    )
    slow = _entry(
        "cloud", "baseline", 4, {"intake": 15, "queue_wait": 90, "prefill": 35, "decode": 60}
    )
    source = ReportSource(Path(), "study", "t", (slow, fast))
    assert gap_sentences(source, EN) == [
        "cloud is 100.0 ms slower than local in mean full response; 80.0% of that gap is queue "
        "wait (90.0 vs 10.0 ms)."
    ]


def test_along_concurrency_steps_and_only_common_parts() -> None:
    low = _entry("sim", "concurrency", 1, {"ttfb": 2, "queue_wait": 0, "prefill": 10, "decode": 50})
    high = _entry(
        "sim", "concurrency", 8, {"intake": 2, "queue_wait": 6, "prefill": 49, "decode": 68}
    )
    [sentence] = gap_sentences(ReportSource(Path(), "study", "t", (high, low)), EN)
    assert sentence.startswith("sim c=8 is 63.0 ms slower than sim c=1")
    assert "61.9% of that gap is prefill (49.0 vs 10.0 ms)" in sentence


def test_small_gaps_and_nothing_in_common_say_nothing() -> None:
    a = _entry("a", "baseline", 4, {"queue_wait": 10, "decode": 90})
    b = _entry("b", "baseline", 4, {"queue_wait": 12, "decode": 91})  # 3 % apart
    assert gap_sentences(ReportSource(Path(), "study", "t", (a, b)), EN) == []
    c = _entry("c", "baseline", 4, {"after_headers": 300})
    assert gap_sentences(ReportSource(Path(), "study", "t", (a, c)), EN) == []
