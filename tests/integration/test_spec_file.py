"""`llmbench run --spec` as a user runs it: the example file against the embedded simulator
(a real subprocess), with run.json keeping the resolved spec, the file and its hash."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from support.cli import llmbench

EXAMPLE = Path(__file__).parents[2] / "examples" / "run-spec.yaml"


def test_the_example_spec_runs_on_the_embedded_target(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = llmbench("run", "--spec", str(EXAMPLE), "--requests", "12", "--output-dir", str(out))
    assert result.returncode == 0, result.stderr
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "complete"
    assert run["spec"]["name"] == "sim-example"
    assert run["spec"]["load"]["requests"] == 12  # the typed flag over the file's 24
    assert run["spec"]["load"]["concurrency"] == 4  # the file's
    assert run["spec_source"] == {
        "file": str(EXAMPLE),
        "file_sha256": hashlib.sha256(EXAMPLE.read_bytes()).hexdigest(),
        "environment": [],
        "flags": ["--requests"],
    }
    assert run["counts"]["ok"] == 12
    assert run["goodput"]["objectives_ms"] == {"ttft_ms": 500, "tpot_ms": 50}
    assert len((out / "records.jsonl").read_text().splitlines()) == 12 + 4  # with warm-up


def test_a_bad_spec_is_one_located_message_without_a_traceback(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("load:\n  concurrency: 4\n  concurency: 8\n")
    result = llmbench("run", "--spec", str(spec), "--output-dir", str(tmp_path / "run"))
    assert result.returncode == 2
    assert result.stderr == (
        f"llmbench: error: {spec}:3:3: load.concurency: unknown key (allowed: concurrency, "
        "duration_s, kind, requests, validity, warmup, workers; fix: did you mean "
        "'concurrency'?)\n"
    )
    assert not (tmp_path / "run").exists()
