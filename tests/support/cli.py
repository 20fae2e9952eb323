"""Driving the `llmbench` command as a user does: real subprocesses, output to files."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmbench.store.results import read_run_file
from llmbench.store.run_schema import RunResult

LLMBENCH = [sys.executable, "-m", "llmbench"]
# A run far longer than any test: the tests stop it from outside.
LONG_RUN = ["run", "--requests", "100000", "--concurrency", "4", "--sim-ttft-ms", "20",
            "--sim-itl-ms", "20", "--output-tokens", "8"]  # fmt: skip


def llmbench(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LLMBENCH, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def start_long_run(
    out: Path, preexec: Callable[[], None] | None = None, extra: list[str] | None = None
) -> subprocess.Popen[str]:
    # Output goes to files: a pipe that nobody reads could fill up and block the run.
    with (out.parent / "stdout").open("w") as stdout, (out.parent / "stderr").open("w") as stderr:
        return subprocess.Popen(
            [*LLMBENCH, *LONG_RUN, *(extra or []), "--output-dir", str(out)],
            stdout=stdout,
            stderr=stderr,
            text=True,
            preexec_fn=preexec,
        )


def wait_for_records(out: Path, n: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    records = out / "records.jsonl"
    while time.monotonic() < deadline:
        if records.exists() and len(records.read_text().splitlines()) >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} records after {timeout_s} s")


def sigterm_long_run(
    tmp_path: Path, extra: list[str] | None = None, after_records: int = 8
) -> tuple[RunResult, list[dict[str, Any]]]:
    """Starts the long run, SIGTERMs it once `after_records` records are on disk, checks it
    stopped cleanly (exit 0, no traceback, status interrupted, only `cancelled` errors, every
    record counted) and returns its run.json and complete record lines."""
    out = tmp_path / "run"
    process = start_long_run(out, extra=extra)
    try:
        wait_for_records(out, after_records, timeout_s=60)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    stderr = (tmp_path / "stderr").read_text()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    run = read_run_file(out / "run.json")
    assert run.status == "interrupted"
    text = (out / "records.jsonl").read_text()
    lines = [json.loads(line) for line in text.split("\n")[:-1]]  # a torn last line: dropped
    assert len(lines) >= after_records
    assert run.counts is not None
    assert run.counts.ok + run.counts.error == len(lines)
    assert set(run.counts.by_category) <= {"cancelled"}
    return run, lines
