"""No secret reaches anything llmbench writes: `llmbench run` as a subprocess with the key in its
environment, against a simulator that requires it (and one that echoes it back in an error body),
then every produced file and both output streams are searched for it.
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

LLMBENCH = [sys.executable, "-m", "llmbench"]
SECRET = "sk-live-Zq81XXsecretXX0123456789abcdef"
URL_PASSWORD = "hunter2-url-password"
FAST = ["--requests", "4", "--concurrency", "2", "--output-tokens", "4", "--input-tokens", "4"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    return {**env, **extra}


@pytest.fixture
def keyed_sim() -> Iterator[str]:
    """`llmbench sim serve` requiring SECRET as its bearer key; yields its base URL."""
    with subprocess.Popen(
        [*LLMBENCH, "sim", "serve", "--port", "0", "--ttft-ms", "5", "--itl-ms", "1",
         "--api-key-env", "SIM_KEY"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=_env(SIM_KEY=SECRET),
    ) as process:  # fmt: skip
        try:
            assert process.stdout is not None
            ready, _, _ = select.select([process.stdout], [], [], 20)
            line = process.stdout.readline() if ready else ""
            match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
            assert match, f"sim did not start: {line!r}"
            yield match.group(1)
        finally:
            process.terminate()
            process.wait(timeout=10)


def run_llmbench(out: Path, *args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [*LLMBENCH, "run", *FAST, "--output-dir", str(out), *args],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = subprocess.run(
        [*LLMBENCH, "report", str(out)], capture_output=True, text=True, timeout=60, check=False
    )
    assert report.returncode == 0, report.stderr
    return result.stdout + result.stderr + report.stdout + report.stderr


def assert_nowhere(needle: str, root: Path, streams: str) -> None:
    assert needle not in streams
    files = [p for p in root.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert needle.encode() not in path.read_bytes(), path


@pytest.mark.slow
def test_the_key_never_reaches_a_file_or_the_terminal(keyed_sim: str, tmp_path: Path) -> None:
    env = _env(MY_KEY=SECRET)
    streams = run_llmbench(tmp_path / "ok", "--base-url", keyed_sim, "--api-key-env", "MY_KEY",
                           env=env)  # fmt: skip
    # The server quotes the caller's Authorization header in a 500 body: redacted on the way in.
    streams += run_llmbench(tmp_path / "echo", "--base-url", keyed_sim, "--api-key-env", "MY_KEY",
                            "--header", "X-Sim-Fault: echo_auth", env=env)  # fmt: skip
    assert "http_5xx 4" in streams
    echoed = (tmp_path / "echo" / "records.jsonl").read_text()
    assert "received Authorization: Bearer ***" in echoed  # it was echoed, and masked
    assert_nowhere(SECRET, tmp_path, streams)
    assert_nowhere(SECRET[3:15], tmp_path, streams)  # not even a fragment of it


@pytest.mark.slow
def test_credentials_in_the_url_never_reach_a_file(tmp_path: Path) -> None:
    with subprocess.Popen(
        [*LLMBENCH, "sim", "serve", "--port", "0", "--ttft-ms", "5", "--itl-ms", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    ) as process:  # fmt: skip
        try:
            assert process.stdout is not None
            ready, _, _ = select.select([process.stdout], [], [], 20)
            line = process.stdout.readline() if ready else ""
            match = re.search(r"http://(127\.0\.0\.1:\d+)", line)
            assert match, f"sim did not start: {line!r}"
            url = f"http://user:{URL_PASSWORD}@{match.group(1)}"
            streams = run_llmbench(tmp_path / "run", "--base-url", url, env=_env())
        finally:
            process.terminate()
            process.wait(timeout=10)
    assert "ok 4" in streams
    assert_nowhere(URL_PASSWORD, tmp_path, streams)


def test_url_credentials_and_a_key_together_are_one_clear_error() -> None:
    result = subprocess.run(
        [*LLMBENCH, "run", "--base-url", f"http://u:{URL_PASSWORD}@127.0.0.1:9/v1"],
        capture_output=True, text=True, timeout=60, check=False, env=_env(OPENAI_API_KEY=SECRET),
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().startswith("llmbench: error: --base-url: the URL carries")
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr + result.stdout
    assert URL_PASSWORD not in result.stderr + result.stdout
