"""The agent tables' numbers from stored blocks: the later turns' cached share is the token-
weighted share over the turns that reported cached tokens, and a study's `continued` session
steps pair with the `new` step of the same target and repeat."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from llmbench.report.agent_tables import later_cached_share, reuse_pairs
from llmbench.report.source import ReportSource, RunEntry


def turn(index: int, cached: int, prompt: int, reporting: int = 1) -> Any:
    share = cached / prompt if reporting else None
    return SimpleNamespace(
        turn=index,
        cached=SimpleNamespace(
            requests_reporting=reporting, cached_tokens=cached, prompt_tokens=prompt, share=share
        ),
    )


def test_later_cached_share_weighs_turns_by_their_prompt_tokens() -> None:
    block: Any = SimpleNamespace(
        per_turn=[turn(0, 0, 1000), turn(1, 900, 2000), turn(2, 2700, 3000), turn(3, 0, 0, 0)]
    )
    # (900 + 2700) / (2000 + 3000): turn 0 left out, turn 3 reported nothing
    assert later_cached_share(block) == pytest.approx(0.72)
    assert later_cached_share(SimpleNamespace(per_turn=[turn(0, 0, 100)])) is None  # type: ignore[arg-type]


def entry(target: str, label: str) -> RunEntry:
    run: Any = SimpleNamespace(sessions=object())
    return RunEntry(Path(target, label), run, target, "sessions", label)


def test_continued_steps_pair_with_the_new_step_of_their_target_and_repeat() -> None:
    entries = [entry(t, f"{step} r{k}") for t in ("a", "b") for step in ("new", "continued")
               for k in (1, 2)]  # fmt: skip
    entries.append(entry("c", "continued r1"))  # no new run: not paired
    source = ReportSource(Path(), "study", "t", tuple(entries))
    pairs = {(new.target, new.label, cont.label) for new, cont in reuse_pairs(source)}
    assert pairs == {(t, f"new r{k}", f"continued r{k}") for t in ("a", "b") for k in (1, 2)}
