"""Nothing lost when the run is stopped from outside or the disk gives out: real `llmbench run`
subprocesses, signalled or starved of file space, leave a results directory `report` opens.
"""

from __future__ import annotations

import json
import re
import resource
import signal
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from support.cli import llmbench, sigterm_long_run, start_long_run

StartSim = Callable[..., str]
FILE_LIMIT_BYTES = 40_000  # run.json (~14 kB) fits; records.jsonl (~720 B a line) fills it


def whole_lines(path: Path) -> list[dict[str, object]]:
    """Every complete line parses; a last line without its newline is the only one allowed torn."""
    text = path.read_text()
    lines = text.split("\n")
    return [json.loads(line) for line in lines[:-1]]


@pytest.mark.slow
def test_sigterm_keeps_every_finished_record(tmp_path: Path) -> None:
    sigterm_long_run(tmp_path)
    assert "TTFT" in (tmp_path / "stdout").read_text()  # the summary was printed


def server_received(base_url: str) -> tuple[int, set[str]]:
    """The simulator's own count of generation requests received (/metrics) and the request
    ids it logged (/sim/log): the other side's account, apart from the client's."""
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    total = re.search(r"^llmbench_sim_requests_total (\d+)$", text, re.MULTILINE)
    assert total is not None, text
    with urllib.request.urlopen(f"{base_url}/sim/log", timeout=10) as resp:
        entries = json.loads(resp.read())["requests"]
    return int(total.group(1)), {entry["request_id"] for entry in entries}


@pytest.mark.slow
def test_every_request_the_server_received_has_a_record(
    start_sim: StartSim, tmp_path: Path
) -> None:
    base_url = start_sim(ttft_ms=20.0, itl_ms=20.0)
    extra = ["--base-url", base_url, "--model", "llmbench-sim"]
    _, lines = sigterm_long_run(tmp_path, extra=extra)
    received, received_ids = server_received(base_url)
    assert received == len(received_ids) >= 8  # no id reused: the log is complete
    records = {line["request_id"]: line for line in lines}
    assert len(records) == len(lines)
    # Nothing lost: every request that reached the server is a record on the client's disk...
    assert received_ids <= records.keys()
    # ...and a record the server never saw is one cancelled by the stop before it was written.
    for request_id in records.keys() - received_ids:
        error = records[request_id]["error"]
        assert error is not None, request_id
        assert error["category"] == "cancelled"
    assert sum(line["attempts"] for line in lines if line["request_id"] in received_ids) == received


def test_unwritable_output_dir_fails_before_the_run(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = llmbench("run", "--requests", "1", "--output-dir", str(blocker / "run"))
    assert result.returncode == 1
    assert result.stderr.strip().startswith("llmbench: error: cannot write results to")
    assert "llmbench: fix: choose a writable --output-dir" in result.stderr
    assert "Traceback" not in result.stderr
    assert "TTFT" not in result.stdout  # nothing was run


def _small_file_limit() -> None:
    # A disk that fills up, honestly: writes past the limit fail with EFBIG (SIGXFSZ ignored).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT_BYTES, FILE_LIMIT_BYTES))


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE semantics checked on Linux")
def test_disk_full_stops_cleanly_with_what_was_written(tmp_path: Path) -> None:
    out = tmp_path / "run"
    process = start_long_run(out, preexec=_small_file_limit)
    try:
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    stderr = (tmp_path / "stderr").read_text()
    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert "llmbench: error: cannot append to" in stderr
    assert "File too large" in stderr
    records = out / "records.jsonl"
    assert records.stat().st_size <= FILE_LIMIT_BYTES
    lines = whole_lines(records)
    assert len(lines) >= 20  # ~55 fit: every record finished before the failure is there
    assert f"{len(lines)} records were written before" in stderr
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "failed"
    report = llmbench("report", str(out))
    assert report.returncode == 0, report.stderr
    assert "TTFT" in report.stdout
