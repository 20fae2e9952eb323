"""Session runs' stored evidence (run.json's `sessions` block, written by session runs): the
per-turn chart reads its per-turn means, the why section its continued-vs-new comparison."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from llmbench.report.charts import stored_turns
from llmbench.report.messages import Messages
from llmbench.report.source import ReportSource, RunEntry
from llmbench.report.why_sweeps import session_sentences


def _brief(mean: float, p50: float) -> SimpleNamespace:
    return SimpleNamespace(mean=mean, p50=p50)


def _entry() -> RunEntry:
    turns = [SimpleNamespace(turn=k, ttft_ms=_brief(100.0 - 30 * k, 0)) for k in range(3)]
    continued = SimpleNamespace(ttft_p50_ratio_b_over_a=0.42, ratio_ci=(0.40, 0.45),
                                ttft_ms_a=_brief(0, 120.0), ttft_ms_b=_brief(0, 50.4))  # fmt: skip
    run = SimpleNamespace(sessions=SimpleNamespace(per_turn=turns, new_vs_continued=continued,
                                                   first_vs_later=None))  # fmt: skip
    return RunEntry(Path("r"), run, "sim", "sessions", "c4")  # type: ignore[arg-type]


def test_per_turn_means_are_the_stored_ones() -> None:
    assert stored_turns(_entry()) == (["0", "1", "2"], [100.0, 70.0, 40.0])


def test_continued_sessions_sentence_states_the_stored_ratio() -> None:
    source = ReportSource(Path(), "run", "t", (_entry(),))
    [sentence] = session_sentences(source, Messages("en"))
    assert sentence == (
        "sim: continued sessions' median TTFT is 0.42× new sessions' [0.40, 0.45] "
        "(50.4 vs 120.0 ms)."
    )
