"""Runs the atheris harness for a bounded number of inputs; skipped where atheris is absent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")

RUNS = 200_000


@pytest.mark.slow
def test_atheris_finds_no_crash(tmp_path: Path) -> None:
    harness = Path(__file__).with_name("atheris_harness.py")
    result = subprocess.run(
        [sys.executable, str(harness), f"-runs={RUNS}", "-max_total_time=60", "-max_len=4096"],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done" in result.stderr
