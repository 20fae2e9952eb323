"""Datasets: JSONL prompts, message lists and ShareGPT conversations read into items, bad lines
named by file:line, the bundled samples, seeded order, requests and sessions made of them."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from llmbench.errors import WorkloadError
from llmbench.workload.dataset import (
    dataset_requests,
    dataset_sessions,
    load_dataset,
    seeded_order,
)
from llmbench.workload.sessions import ThinkTimes

SHAREGPT = {"id": "x", "conversations": [
    {"from": "system", "value": "Be brief."},
    {"from": "human", "value": "first question"},
    {"from": "gpt", "value": "one two three"},
    {"from": "human", "value": "second question here"},
    {"from": "gpt", "value": "four five"},
]}  # fmt: skip


def write(tmp_path: Path, *lines: object, raw: str | None = None) -> str:
    path = tmp_path / "data.jsonl"
    path.write_text(raw if raw is not None else "\n".join(json.dumps(x) for x in lines) + "\n")
    return str(path)


def test_the_three_line_shapes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {"prompt": "hello there", "output_tokens": 7},
        {
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b"},
                {"role": "user", "content": "c d"},
            ]
        },
        SHAREGPT,
    )
    prompt, messages, chat = load_dataset(path)
    assert prompt.request() == (({"role": "user", "content": "hello there"},), 7)
    assert messages.request()[0][-1] == {"role": "user", "content": "c d"}  # the whole list
    assert messages.request()[1] is None  # no expected length: the workload's
    sent, expected = chat.request()  # a conversation: up to its first human turn
    assert [m["role"] for m in sent] == ["system", "user"]
    assert expected == 3  # the words of the answer that followed
    assert chat.turns() == [("first question", 3), ("second question here", 2)]
    assert chat.system == "Be brief."
    assert prompt.where == f"{path}:1"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"prompt": ""}', "prompt must be a non-empty string"),
        ('{"text": "hi"}', "no prompt, messages or conversations"),
        ('{"prompt": "hi", "output_tokens": 0}', "output_tokens must be a whole number >= 1"),
        ('{"messages": [{"role": "robot", "content": "x"}]}', "role 'robot' is not one of"),
        ('{"conversations": [{"from": "gpt", "value": "x"}]}', "no user (human) message"),
        ('{"messages": []}', "messages must be a non-empty list"),
        ("{oops", "not JSON"),
        ("[1]", "item 0: not a JSON object"),
    ],
)
def test_a_bad_item_names_its_file_and_line(tmp_path: Path, line: str, expected: str) -> None:
    path = write(tmp_path, raw='{"prompt": "fine"}\n\n' + line + "\n" if line[0] != "[" else line)
    with pytest.raises(WorkloadError) as caught:
        load_dataset(path)
    assert expected in str(caught.value)
    where = f"{path}: item 0" if line[0] == "[" else f"{path}:3"
    assert str(caught.value).startswith(where)


def test_missing_empty_and_unknown_builtin_datasets_are_clear(tmp_path: Path) -> None:
    with pytest.raises(WorkloadError, match="cannot read dataset"):
        load_dataset(str(tmp_path / "absent.jsonl"))
    with pytest.raises(WorkloadError, match="the dataset is empty"):
        load_dataset(write(tmp_path, raw="\n\n"))
    with pytest.raises(WorkloadError, match="not a bundled dataset"):
        load_dataset("builtin:nope")


def test_the_bundled_samples_load_offline() -> None:
    prompts, sharegpt = load_dataset("builtin:prompts"), load_dataset("builtin:sharegpt")
    assert len(prompts) >= 24
    assert len(sharegpt) >= 10
    assert all(len(item.turns()) >= 2 for item in sharegpt)


def test_the_seeded_order_covers_every_item_each_pass() -> None:
    first = list(itertools.islice(seeded_order(5, "k"), 10))
    assert sorted(first[:5]) == sorted(first[5:]) == list(range(5))
    assert first == list(itertools.islice(seeded_order(5, "k"), 10))
    assert first != list(itertools.islice(seeded_order(5, "other"), 10))


def test_requests_and_sessions_from_a_dataset(tmp_path: Path) -> None:
    items = load_dataset(write(tmp_path, {"prompt": "alpha beta"}, SHAREGPT))
    specs = list(itertools.islice(dataset_requests(items, seed=1, output_tokens=9), 4))
    assert {s.max_tokens for s in specs} == {9, 3}  # the default, or the expected length
    assert specs == list(itertools.islice(dataset_requests(items, seed=1, output_tokens=9), 4))
    sessions = list(dataset_sessions(items, count=3, turns=3, seed=1, think=ThinkTimes(1.5),
                                     output_tokens=9))  # fmt: skip
    assert all(len(s.turns) == 3 for s in sessions)  # short conversations are continued
    assert [t.think_before_s for t in sessions[0].turns] == [0.0, 1.5, 1.5]
    users = {t.user for s in sessions for t in s.turns}
    assert users <= {"alpha beta", "first question", "second question here"}
