"""`--dataset` as a user runs it: the bundled samples against the embedded simulator, offline;
a bad line is one clear error naming file:line, with nothing sent and no traceback."""

from __future__ import annotations

import json
from pathlib import Path

from support.cli import llmbench

FAST_SIM = ["--sim-ttft-ms", "5", "--sim-itl-ms", "1"]


def test_bundled_prompts_run_as_requests(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = llmbench("run", "--dataset", "builtin:prompts", "--requests", "6", "--concurrency",
                      "2", "--output-tokens", "8", *FAST_SIM, "--output-dir", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert len(records) == 6
    assert all(r["status"] == "ok" for r in records)
    # the dataset's own expected lengths where a line gives one, else --output-tokens
    assert {r["requested_output_tokens"] for r in records} - {8}
    # the simulator counts the words of every message sent
    assert all(r["input_tokens"] >= 3 for r in records)


def test_bundled_sharegpt_feeds_sessions(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = llmbench("run", "--dataset", "builtin:sharegpt", "--sessions", "2", "--turns", "3",
                      *FAST_SIM, "--output-dir", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    run = json.loads((out / "run.json").read_text())
    assert [t["n"] for t in run["sessions"]["per_turn"]] == [2, 2, 2]
    prompts = [t["prompt_tokens_mean"] for t in run["sessions"]["per_turn"]]
    assert prompts == sorted(prompts)  # the history grows turn by turn


def test_a_bad_line_is_one_clear_error(tmp_path: Path) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text('{"prompt": "fine"}\n{"prompt": "also fine"}\n{"text": "no prompt"}\n')
    out = tmp_path / "run"
    result = llmbench("run", "--dataset", str(data), "--requests", "2", *FAST_SIM,
                      "--output-dir", str(out))  # fmt: skip
    assert result.returncode in (1, 2)
    assert "Traceback" not in result.stderr
    assert f"{data}:3: no prompt, messages or conversations" in result.stderr
    assert not (out / "records.jsonl").exists()


def test_length_shaping_flags_are_refused_with_a_dataset() -> None:
    result = llmbench("run", "--dataset", "builtin:prompts", "--prefix-tokens", "4")
    assert result.returncode in (1, 2)
    assert "a dataset's prompts are sent as written" in result.stderr
