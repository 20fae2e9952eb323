"""Session traces: turns grouped by session in timestamp order, prompts whose leading blocks
follow the hash ids, bad lines named by file:line, too few sessions refused before sending."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmbench.errors import WorkloadError
from llmbench.workload.trace_sessions import load_session_trace, trace_sessions, turn_prompt


def write(tmp_path: Path, *lines: object) -> Path:
    path = tmp_path / "trace.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def test_turns_group_by_session_and_prompts_share_blocks(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {"session_id": "b", "input_length": 5, "output_length": 2, "timestamp": 9},
        {"session_id": "a", "input_length": 10, "output_length": 3, "hash_ids": [7, 8],
         "timestamp": 5, "delay_ms": 250},
        {"session_id": "a", "input_length": 7, "output_length": 3, "hash_ids": [7],
         "timestamp": 1},
    )  # fmt: skip
    sessions = load_session_trace(path)
    assert list(sessions) == ["b", "a"]  # first appearance
    assert [t.timestamp_ms for t in sessions["a"]] == [1, 5]  # timestamp order
    first, second = sessions["a"]
    p1 = turn_prompt(first, 0, seed=0, block_tokens=4)
    p2 = turn_prompt(second, 1, seed=0, block_tokens=4)
    assert len(p1.split()) == 7
    assert len(p2.split()) == 10
    assert p1.split()[:4] == p2.split()[:4]  # block 7, the same words in both
    assert p1.split()[4:] != p2.split()[4:8]  # then each its own
    plans = list(trace_sessions(sessions, count=2, turns=5, seed=0, block_tokens=4, where="t"))
    assert [p.session_id for p in plans] == ["b", "a"]
    assert [t.think_before_s for t in plans[1].turns] == [0.0, 0.25]
    assert all(p.replay for p in plans)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ({"input_length": 5, "output_length": 2}, "needs a session_id"),
        ({"session_id": "s", "input_length": 5}, "needs input_length and output_length"),
        ({"session_id": "s", "input_length": 0, "output_length": 2}, "input_length must be"),
        ({"session_id": "s", "input_length": 5, "output_length": 2, "hash_ids": ["x"]},
         "hash_ids must be a list of integers"),
        ({"session_id": "s", "input_length": 5, "output_length": 2, "delay_ms": -1},
         "delay_ms must be a number >= 0"),
    ],
)  # fmt: skip
def test_a_bad_line_names_its_file_and_line(tmp_path: Path, line: object, expected: str) -> None:
    ok = {"session_id": "s", "input_length": 5, "output_length": 2}
    path = write(tmp_path, ok, line)
    with pytest.raises(WorkloadError) as caught:
        load_session_trace(path)
    assert str(caught.value).startswith(f"{path}:2: ")
    assert expected in str(caught.value)


def test_more_sessions_than_the_trace_holds_is_refused_at_once(tmp_path: Path) -> None:
    sessions = load_session_trace(write(tmp_path, {"session_id": "s", "input_length": 5,
                                                   "output_length": 2}))  # fmt: skip
    with pytest.raises(WorkloadError, match="2 sessions asked for, the trace holds 1"):
        trace_sessions(sessions, count=2, turns=1, seed=0, block_tokens=4, where="t")
