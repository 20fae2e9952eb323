"""Driving the `llmbench` command as a user does: real subprocesses, output to files."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

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
