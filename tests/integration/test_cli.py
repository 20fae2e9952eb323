"""The `llmbench` command as a user runs it: real subprocesses, exact messages, signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from support.cli import LLMBENCH, llmbench, start_long_run, wait_for_records

FAST_SIM = ["--sim-ttft-ms", "20", "--sim-itl-ms", "2", "--output-tokens", "16"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "--concurrency", "0"], "--concurrency"),
        (["run", "--concurrency", "many"], "--concurrency: 'many' is not a number"),
        (["run", "--base-url", "localhost:8000"], "--base-url"),
        (["run", "--extra-body", "{oops"], "--extra-body"),
        (["run", "--header", "no-colon"], "--header"),
        (["run", "--api-key-env", "LLMBENCH_TEST_UNSET_VARIABLE"], "--api-key-env"),
        (["run", "--tokenizer", "bogus"], "--tokenizer"),
        (["report", "/nonexistent/dir"], "not a results directory"),
        (["run", "--no-such-flag"], "No such option"),
        (["run", "--target-kind", "grpc"], "--target-kind"),
    ],
)
def test_bad_input_is_one_clear_line(args: list[str], expected: str) -> None:
    result = llmbench(*args)
    assert result.returncode in (1, 2)
    assert "Traceback" not in result.stderr
    assert expected in result.stderr
    assert result.stderr.startswith("llmbench: error:")


def test_run_on_the_embedded_target_then_report(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = llmbench("run", "--requests", "6", "--concurrency", "2", *FAST_SIM,
                      "--output-dir", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "TTFT" in result.stdout
    assert "Latency (ms) over 6 ok requests, warm-up excluded (not in them: 0 failed)" in (
        result.stdout
    )
    assert "success 100.0%" in result.stdout
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "complete"
    assert run["counts"]["ok"] == 6
    assert run["target"]["embedded_sim"]["ttft_ms"] == 20.0
    assert isinstance(run["client"]["saturated"], bool)  # the client watched itself
    assert run["client"]["loop_lag_ms"]["n"] > 0
    assert run["summary"]["ttft_ms"]["mean"] >= 20.0
    assert len((out / "records.jsonl").read_text().splitlines()) == 6
    again = llmbench("report", str(out))
    assert again.returncode == 0, again.stderr
    assert "TTFT" in again.stdout
    view = llmbench("report", str(out), "--view", "3sigma")
    assert view.returncode == 0, view.stderr
    assert "3σ" in view.stdout


@pytest.mark.slow
def test_sigint_keeps_every_finished_record(tmp_path: Path) -> None:
    out = tmp_path / "run"
    process = start_long_run(out)
    wait_for_records(out, 8)
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
    stderr = (tmp_path / "stderr").read_text()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "interrupted"
    lines = (out / "records.jsonl").read_text().splitlines()
    assert len(lines) >= 8
    counts = run["counts"]
    assert counts["ok"] + counts["error"] == len(lines)  # in-flight ones are cancelled, not lost
    assert set(counts["by_category"]) <= {"cancelled"}
    report = llmbench("report", str(out))
    assert report.returncode == 0, report.stderr
    assert "interrupted" in report.stdout


@pytest.mark.slow
def test_kill_9_leaves_a_readable_results_directory(tmp_path: Path) -> None:
    out = tmp_path / "run"
    process = start_long_run(out)
    wait_for_records(out, 8)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    report = llmbench("report", str(out))
    assert report.returncode == 0, report.stderr
    assert "recomputed from records.jsonl" in report.stdout
    assert "TTFT" in report.stdout


def test_sim_serve_announces_its_port() -> None:
    with subprocess.Popen(
        [*LLMBENCH, "sim", "serve", "--port", "0"], stdout=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.startswith("llmbench-sim listening on http://127.0.0.1:")
            assert int(line.rsplit(":", 1)[1]) > 0
        finally:
            process.terminate()
            assert process.wait(timeout=10) == 0


@pytest.mark.slow
@pytest.mark.timeout(300)  # the whole demo: under 3 minutes on 2 cores, ~2.3 measured
def test_demo_runs_the_built_in_comparison_study(tmp_path: Path) -> None:
    result = llmbench("demo", "--output-dir", str(tmp_path / "demo"), timeout=300)
    assert result.returncode == 0, result.stderr
    study = json.loads((tmp_path / "demo" / "study.json").read_text())
    assert study["kind"] == "comparison"
    assert study["status"] == "complete"
    assert {r["status"] for r in study["runs"]} == {"complete"}
    assert {r["target"] for r in study["runs"]} == {"self-hosted", "cloud"}
    for header in ("mean first-token latency", "full-response latency", "P95", "self-hosted's",
                   "Continued vs new sessions", "Agent tasks"):  # fmt: skip
        assert header in result.stdout


def test_run_on_the_embedded_twin_preset(tmp_path: Path) -> None:
    out = tmp_path / "twin"
    result = llmbench("run", "--sim-preset", "cloud-warm", "--requests", "4", "--concurrency", "2",
                      "--output-tokens", "8", "--output-dir", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    run = json.loads((out / "run.json").read_text())
    assert run["target"]["embedded_sim"]["preset"] == "cloud-warm"
    assert run["counts"]["ok"] == 4


def test_study_steps_are_not_served_from_the_prefix_cache(tmp_path: Path) -> None:
    # cloud-warm caches prefixes of 1,024+ tokens: had step 2 resent step 1's prompts, most of
    # their tokens would be cached.
    out = tmp_path / "sweep"
    result = llmbench("run", "--sim-preset", "cloud-warm", "--profile", "concurrency-sweep",
                      "--concurrency", "1,2", "--requests", "4", "--input-tokens", "1280",
                      "--output-tokens", "4", "--output-dir", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    steps = sorted(out.glob("*/records.jsonl"))
    assert len(steps) == 2
    for records in steps:
        cached = [json.loads(line)["cached_tokens"] for line in records.read_text().splitlines()]
        assert len(cached) == 4
        assert cached == [0] * 4, records


def test_bad_twin_preset_is_one_clear_error(tmp_path: Path) -> None:
    result = llmbench("run", "--sim-preset", "nope", "--requests", "1",
                      "--output-dir", str(tmp_path / "x"))  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "exited with code 2" in result.stderr
    assert "unknown preset 'nope'" in result.stderr


def test_exact_prompts_under_a_local_bpe_tokenizer(tmp_path: Path) -> None:
    from support.bpe import CHAT_TEMPLATE, train_bpe

    folder = train_bpe(tmp_path / "tok", chat_template=CHAT_TEMPLATE)
    out = tmp_path / "run"
    result = llmbench("run", "--requests", "4", "--concurrency", "2", *FAST_SIM,
                      "--input-tokens", "48", "--tokenizer", f"hf:{folder}", "--exact-tokens",
                      "--output-dir", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "complete"
    assert run["counts"]["ok"] == 4
    prompts = run["target"]["prompts"]
    assert prompts["tokenizer"] == f"hf:{folder}"
    assert prompts["lengths"] == "exact"
    assert prompts["chat_template"] == "measured"
    assert prompts["chat_template_tokens"] >= 4
    # The terminal wraps at 140 columns: a long tmp path may move the tail to the next line.
    assert "prompts: exact lengths under hf:" in result.stdout
    words = " ".join(result.stdout.split())
    assert f"chat template adds {prompts['chat_template_tokens']} tokens" in words


def test_whitespace_prompts_are_flagged_approximate_off_the_simulator() -> None:
    from llmbench.config import RunSpec
    from llmbench.run.plan import prompt_tokens

    spec = RunSpec.model_validate({})
    off_sim = prompt_tokens(spec, None, simulated=False)
    assert (off_sim.tokenizer, off_sim.lengths) == ("whitespace", "approximate")
    assert off_sim.chat_template_tokens is None
    assert off_sim.chat_template.startswith("no chat template")
    assert prompt_tokens(spec, None, simulated=True).lengths == "exact"
