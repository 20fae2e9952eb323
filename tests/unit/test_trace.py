"""Trace replay input: parsing, ordering, errors with file:line, prompt lengths and shared
prefixes from hash ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmbench.errors import WorkloadError
from llmbench.workload.trace import load_trace, trace_requests


def write(tmp_path: Path, rows: list[object]) -> Path:
    path = tmp_path / "trace.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_load_sorts_and_limits(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            {"timestamp": 30, "input_length": 5, "output_length": 2},
            {"timestamp": 0, "input_length": 7, "output_length": 3, "hash_ids": [1, 2]},
            {"timestamp": 10, "input_length": 4, "output_length": 1, "session_id": 9},
        ],
    )
    entries = load_trace(path)
    assert [e.timestamp_ms for e in entries] == [0.0, 10.0, 30.0]
    assert entries[0].hash_ids == (1, 2)
    assert entries[1].session_id == "9"
    assert len(load_trace(path, max_requests=2)) == 2


def test_prompts_have_the_lengths_and_share_prefixes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            {"timestamp": 0, "input_length": 600, "output_length": 4, "hash_ids": [7, 8]},
            {"timestamp": 1, "input_length": 520, "output_length": 4, "hash_ids": [7, 9]},
            {"timestamp": 2, "input_length": 3, "output_length": 4},
        ],
    )
    specs = list(trace_requests(load_trace(path), seed=0))
    lengths = [len(s.prompt.split()) for s in specs]
    assert lengths == [600, 520, 3]
    assert specs[0].prompt.split()[:512] == specs[1].prompt.split()[:512]  # block 7 shared
    assert specs[0].prompt.split()[512:520] != specs[1].prompt.split()[512:520]
    assert [s.max_tokens for s in specs] == [4, 4, 4]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json\n", "trace.jsonl:1: not JSON"),
        ('{"timestamp": 1}\n', "trace.jsonl:1"),
        ('{"timestamp": 1, "input_length": 0, "output_length": 1}\n', ">= 1"),
        ("\n", "empty"),
    ],
)
def test_bad_traces_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_text(text)
    with pytest.raises(WorkloadError, match=message):
        load_trace(path)
