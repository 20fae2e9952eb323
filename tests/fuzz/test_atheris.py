"""Runs the atheris harness for a bounded number of inputs (atheris is in the dev extra; the test
fails, never skips, where it is missing)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

RUNS = 200_000


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_atheris_finds_no_crash(tmp_path: Path) -> None:
    assert importlib.util.find_spec("atheris") is not None, (
        "atheris is missing: install the dev extra (pip install -e '.[dev]')"
    )
    harness = Path(__file__).with_name("atheris_harness.py")
    result = subprocess.run(
        [sys.executable, str(harness), f"-runs={RUNS}", "-max_len=4096"],
        capture_output=True, text=True, timeout=280, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    # No time cap: a busy host takes longer, it never fuzzes fewer inputs than the docs state.
    done = re.search(r"^Done (\d+) runs", result.stderr, re.MULTILINE)
    assert done is not None, result.stderr[-3000:]
    assert int(done.group(1)) == RUNS
