"""`llmbench run --target-kind manus|task-api` as a user runs it: the simulator's task face as a
real process, the key never in anything the run writes, faults as categorized task records."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest
from tests.integration.conftest import StartSim

from support.cli import LLMBENCH

RIGHT_KEY = "mk_right_Z9x8c7v6b5n4m3"
WRONG_KEY = "mk_wrong_Q1w2e3r4t5y6u7"
EXAMPLE = Path(__file__).parents[2] / "examples" / "task-api.yaml"


def run(out: Path, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MANUS_API_KEY": key, "SIM_TASK_KEY": key}
    return subprocess.run(
        [*LLMBENCH, "run", "--output-dir", str(out), *args],
        capture_output=True, text=True, timeout=90, check=False, env=env,
    )  # fmt: skip


def written(out: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())


@pytest.fixture
def keyed_sim(start_sim: StartSim, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SIM_SERVER_KEY", RIGHT_KEY)
    return start_sim(
        ttft_ms=20, itl_ms=2, task_options="steps:2,tokens:4,tool_ms:10,error:0.3",
        extra_args=["--api-key-env", "SIM_SERVER_KEY"],
    )  # fmt: skip


def test_a_manus_run_writes_task_metrics_and_never_the_key(keyed_sim: str, tmp_path: Path) -> None:
    args = ["--target-kind", "manus", "--base-url", keyed_sim, "--requests", "6",
            "--concurrency", "3", "--poll-interval-ms", "30"]  # fmt: skip
    good, bad = tmp_path / "good", tmp_path / "bad"
    result = run(good, RIGHT_KEY, *args)
    assert result.returncode == 0, result.stderr
    refused = run(bad, WRONG_KEY, *args)
    assert refused.returncode == 0, refused.stderr  # failed tasks are records, not a crash
    tasks = json.loads((good / "run.json").read_text())["tasks"]
    assert tasks["covers"]["tasks"] == 6
    assert tasks["counts"]["ok"] + tasks["counts"]["error"] == 6
    assert tasks["task_accept_ms"]["n"] == 6
    assert "within one poll interval" in tasks["service"]["polling"]["note"]
    split = json.loads((good / "run.json").read_text())["decomposition"]["tasks"]
    assert split["tasks"] == tasks["counts"]["ok"]
    assert split["sum_check_max_ms"] < 1  # accept + human wait + agent work + polling delay
    lines = [json.loads(x) for x in (bad / "tasks.jsonl").read_text().splitlines()]
    assert [t["error"]["http_status"] for t in lines] == [401] * 6
    assert all(t["error"]["raw_body"] for t in lines)
    for out, proc in ((good, result), (bad, refused)):
        text = written(out) + proc.stdout + proc.stderr
        assert RIGHT_KEY not in text
        assert WRONG_KEY not in text


def test_a_task_api_run_from_yaml(keyed_sim: str, tmp_path: Path) -> None:
    out = tmp_path / "generic"
    result = run(
        out, RIGHT_KEY, "--target-kind", "task-api", "--task-api-config", str(EXAMPLE),
        "--base-url", keyed_sim, "--requests", "3", "--poll-interval-ms", "30",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    tasks = json.loads((out / "run.json").read_text())["tasks"]
    assert tasks["covers"]["tasks"] == 3
    lines = [json.loads(x) for x in (out / "tasks.jsonl").read_text().splitlines()]
    # the key came from the variable the YAML names: no task was refused
    assert all((t["error"] or {}).get("http_status") is None for t in lines)
    assert RIGHT_KEY not in written(out)


def test_a_task_api_run_needs_its_file() -> None:
    result = subprocess.run(
        [*LLMBENCH, "run", "--target-kind", "task-api", "--requests", "1"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode in (1, 2)
    assert "--task-api-config" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_webhook_port_in_use_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = run(
            tmp_path / "out", RIGHT_KEY, "--target-kind", "manus", "--requests", "1",
            "--webhook-listen", f"127.0.0.1:{port}",
            "--webhook-public-url", f"http://127.0.0.1:{port}/h",
        )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "webhooks could not be set up" in result.stderr
    assert "--webhook-listen" in result.stderr


def test_a_manus_run_with_webhooks_and_polling(keyed_sim: str, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "hooks"
    result = run(
        out, RIGHT_KEY, "--target-kind", "manus", "--base-url", keyed_sim, "--requests", "4",
        "--concurrency", "2", "--poll-interval-ms", "40",
        "--webhook-listen", f"127.0.0.1:{port}",
        "--webhook-public-url", f"http://127.0.0.1:{port}/hooks",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [json.loads(x) for x in (out / "tasks.jsonl").read_text().splitlines()]
    assert {e["via"] for t in lines for e in t["events"]} == {"poll", "webhook"}
    polling = json.loads((out / "run.json").read_text())["tasks"]["service"]["polling"]
    assert polling["ended_by_poll"] + polling["ended_by_webhook"] == sum(
        t["status"] == "ok" for t in lines
    )
    assert RIGHT_KEY not in written(out) + result.stdout + result.stderr
