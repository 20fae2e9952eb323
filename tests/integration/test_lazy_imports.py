"""A plain OpenAI run never loads the libraries only other kinds of run need (start-up time)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# The whole run in one process (the simulator is its own process, as always), then a look at
# what that process loaded. `cryptography` checks Manus webhook signatures: task APIs only.
_RUN_THEN_LOOK = """
import sys
from llmbench.cli.main import main
try:
    main(["run", "--requests", "2", "--concurrency", "1", "--sim-ttft-ms", "5",
          "--sim-itl-ms", "1", "--output-tokens", "4", "--output-dir", sys.argv[1]])
except SystemExit as exc:
    assert not exc.code, exc.code
print(sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0] in {"cryptography"}}))
"""


def test_a_plain_run_does_not_import_cryptography(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _RUN_THEN_LOOK, str(tmp_path / "run")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "run" / "run.json").is_file()
    assert result.stdout.strip().splitlines()[-1] == "[]"
