"""`llmbench study` and the demo study end to end, as real processes over loopback: the built-in
study at reduced size shows every difference its presets imply, and a study killed mid-way
(SIGKILL) and resumed makes the same runs as an uninterrupted one, keeping the finished ones."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from llmbench.metrics.compare import Verdict
from llmbench.report.agent_tables import agent_task_table, later_cached_share, reuse
from llmbench.report.comparison import compare_runs
from llmbench.report.messages import Messages
from llmbench.report.source import load_source
from llmbench.store.results import read_run_file
from llmbench.store.study_index import load_any_study
from llmbench.store.study_schema import ComparisonIndex, ComparisonRun
from support.cli import LLMBENCH, llmbench

from .conftest import StartSim

DEMO = Path(__file__).parents[2] / "src" / "llmbench" / "study" / "specs" / "demo.yaml"
TINY = {
    "targets": {"a": "sim:deterministic", "b": "sim:cloud-warm"},
    "workload": {"input_tokens": 16, "output_tokens": 4},
    "scenarios": {"baseline": {"requests": 3}, "concurrency": {"levels": [1, 2], "requests": 2}},
}


def reduced_demo() -> dict[str, Any]:
    """The demo's spec with fewer, shorter requests: same targets, same scenarios."""
    spec: dict[str, Any] = yaml.safe_load(DEMO.read_text())
    spec["workload"]["output_tokens"] = 16
    spec["scenarios"] = {
        "baseline": {"requests": 20},  # the cold-start check gives a verdict from 20
        "concurrency": {"levels": [1, 8], "requests": 2, "per_stream": 2},
        "input-length": {"lengths": [128, 1024], "requests": 2},
        "rate": {"rates": [4], "requests": 6},
        "sessions": {"sessions": 3, "turns": 3, "system_tokens": 1024},
        "agent-loop": {
            "tasks": 1, "screen_size": "270x600",
            "actuation": {"tap_s": 0.05, "type_s": 0.05, "other_s": 0.05},
        },
        "tasks": {"file": str(DEMO.parent / "demo-tasks.yaml")},
    }  # fmt: skip
    return spec


def write_spec(path: Path, spec: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(spec))
    return path


def comparison(directory: Path) -> ComparisonIndex:
    study = load_any_study(directory)
    assert isinstance(study, ComparisonIndex)
    return study


def headline(study: ComparisonIndex, target: str, scenario: str, step: str) -> Any:
    run = next(r for r in study.runs if (r.target, r.scenario, r.step) == (target, scenario, step))
    assert run.status == "complete", run
    assert run.headline is not None
    return run.headline


def run_dir(directory: Path, study: ComparisonIndex, target: str, scenario: str, step: str) -> Path:
    run = next(r for r in study.runs if (r.target, r.scenario, r.step) == (target, scenario, step))
    return directory / run.dir


def test_the_demo_study_shows_what_its_presets_imply(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    spec = write_spec(tmp_path / "demo.yaml", reduced_demo())
    result = llmbench("study", str(spec), "--output-dir", str(out), timeout=240)
    assert result.returncode == 0, result.stderr
    study = comparison(out)
    assert study.status == "complete"
    assert len(study.runs) == 2 * (1 + 2 + 2 + 1 + 2 + 1 + 2)

    # Warm is faster to the first token and to the whole answer, and streams faster: each
    # ratio's bootstrap CI excludes 1 on the right side.
    hosted, cloud = (run_dir(out, study, t, "baseline", "rounds") for t in ("self-hosted", "cloud"))
    rows = {r.metric: r for r in compare_runs(hosted, cloud, seed=1).rows}
    for metric in ("ttft_ms", "e2e_ms", "request_output_tokens_per_s"):
        ratio = rows[metric].ratio
        assert ratio is not None
        assert ratio.excludes_one(), (metric, ratio)
        assert rows[metric].verdict is Verdict.FASTER, rows[metric].sentence
    assert rows["ttft_ms"].ratio is not None
    assert rows["ttft_ms"].ratio.ci is not None
    assert rows["ttft_ms"].ratio.ci[1] < 1  # cloud's TTFT below self-hosted's

    # The self-hosted engine was deployed just now: its first request waited for the model to
    # load, and the cold-start check finds that one request; the warm service has none.
    for target, cold in (("self-hosted", True), ("cloud", False)):
        cache = read_run_file(run_dir(out, study, target, "baseline", "rounds") / "run.json").cache
        assert cache is not None
        verdict = cache.cold_start
        assert verdict.detected is cold, (target, verdict)
        assert (verdict.change_at_request == 1) if cold else True, verdict

    for target in ("self-hosted", "cloud"):
        # Batching raises throughput: one number per run (no CI from one run), by a wide margin.
        one, eight = (headline(study, target, "concurrency", c) for c in ("c1", "c8"))
        assert eight.output_tokens_per_s > 2 * one.output_tokens_per_s
        # A longer prompt takes longer to prefill: the TTFT ratio's CI lies above 1.
        short, long = (run_dir(out, study, target, "input-length", n) for n in ("in128", "in1024"))
        longer = compare_runs(short, long, metrics=["ttft_ms"], force=True, seed=1).rows[0]
        assert longer.ratio is not None
        assert longer.ratio.ci is not None
        assert longer.ratio.ci[0] > 1, longer.sentence

    agent_workloads_show_what_the_presets_imply(out, study)
    shown = (
        "mean first-token latency", "P95", "fluctuation range", "self-hosted's",
        "Continued vs new sessions", "Agent loop per step", "Sequential vs concurrent",
    )  # fmt: skip
    for words in shown:
        assert words in result.stdout
    assert "report: " in result.stdout
    assert (out / "report.md").is_file()


def agent_workloads_show_what_the_presets_imply(out: Path, study: ComparisonIndex) -> None:
    source = load_source(out)
    entries = {(e.target, e.scenario, e.label): e for e in source.entries}
    # Reused sessions cut TTFT where the server keeps the prefix: cloud's later turns, continued
    # over new (the same turns and prompt lengths), with a CI below 1; self-hosted has no
    # prefix cache, so nothing of its prompts is cached.
    cloud = reuse(
        entries[("cloud", "sessions", "new")], entries[("cloud", "sessions", "continued")]
    )
    assert cloud.ratio is not None
    assert cloud.ci is not None
    assert cloud.ci[1] < 1, cloud
    for target, cached in (("self-hosted", False), ("cloud", True)):
        block = entries[(target, "sessions", "continued")].run.sessions
        assert block is not None
        share = later_cached_share(block)
        assert share is not None
        assert (share > 0.5) if cached else (share == 0), (target, share)
    later = entries[("cloud", "sessions", "continued")].run.sessions
    assert later is not None
    assert later.first_vs_later is not None
    assert later.first_vs_later.ratio_ci is not None
    assert later.first_vs_later.ratio_ci[1] < 1  # later turns hit the cache: faster than turn 0

    # The agent task: self-hosted runs the phone-agent loop on its model (the simulator playing
    # the agent), the cloud runs it as an agent service on its task face; the table keeps the
    # loop's TTFT and the service's first event in separate columns.
    loop = entries[("self-hosted", "agent-loop", "run")].run
    assert loop.agent_loop is not None
    assert loop.agent_loop.by_status["ok"] == 1
    assert loop.agent_loop.model_share.mean is not None
    assert loop.agent_loop.actuation_share.mean is not None
    assert 0.95 < loop.agent_loop.model_share.mean + loop.agent_loop.actuation_share.mean <= 1.0
    service = entries[("cloud", "agent-loop", "run")].run
    assert service.spec.target.kind == "manus"
    assert service.agent_loop is None
    assert service.tasks is not None
    assert service.tasks.service is not None
    assert service.tasks.counts.ok == 1
    table = agent_task_table(source, Messages("en"))
    assert table is not None
    rows = {row[0]: dict(zip(table.columns, row, strict=True)) for row in table.rows}
    ttft, event = "loop: TTFT P50 of step 0 (ms)", "service: first event P50 (ms)"
    assert rows["self-hosted"][event] == "–"
    assert rows["self-hosted"][ttft] != "–"
    assert rows["cloud"][ttft] == "–"
    assert rows["cloud"][event] != "–"

    # The DAG task: a concurrent run's steps overlap (critical path < Σ step times), and on the
    # continuously batching cloud it finishes sooner than one step at a time.
    completion: dict[tuple[str, str], float] = {}
    for target in ("self-hosted", "cloud"):
        for mode in ("sequential", "concurrent"):
            tasks = entries[(target, "tasks", mode)].run.tasks
            assert tasks is not None
            assert tasks.counts.ok == 1
            assert tasks.task_completion_ms.mean is not None
            completion[(target, mode)] = tasks.task_completion_ms.mean
        concurrent = entries[(target, "tasks", "concurrent")].run.tasks
        assert concurrent is not None
        path, steps = concurrent.critical_path_ms.mean, concurrent.step_time_sum_ms.mean
        assert path is not None
        assert steps is not None
        assert path < 0.8 * steps
    assert completion[("cloud", "concurrent")] < 0.8 * completion[("cloud", "sequential")]


def runs_of(study: ComparisonIndex) -> set[tuple[str, str, str, int, str, str]]:
    return {(r.target, r.scenario, r.step, r.repeat, r.dir, r.workload_hash) for r in study.runs}


def complete(study: ComparisonIndex) -> dict[str, ComparisonRun]:
    return {r.dir: r for r in study.runs if r.status == "complete"}


def wait_for_complete_runs(directory: Path, n: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        path = directory / "study.json"
        if path.exists():
            runs = json.loads(path.read_text())["runs"]
            if sum(r["status"] == "complete" for r in runs) >= n:
                return
        time.sleep(0.05)
    raise AssertionError(f"no {n} complete runs in time (exit {process.poll()})")


def test_a_killed_study_resumes_to_the_runs_of_an_uninterrupted_one(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "tiny.yaml", TINY)
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert llmbench("study", str(spec), "--output-dir", str(whole)).returncode == 0

    with (tmp_path / "err").open("w") as err:
        process = subprocess.Popen(
            [*LLMBENCH, "study", str(spec), "--output-dir", str(killed)],
            stdout=subprocess.DEVNULL, stderr=err, text=True,
        )  # fmt: skip
        try:
            wait_for_complete_runs(killed, 2, process)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
    before = comparison(killed)
    assert before.status == "running"  # killed: never got to write its end
    finished = complete(before)
    assert 2 <= len(finished) < len(before.runs)

    refused = llmbench("study", str(spec), "--output-dir", str(killed))
    assert refused.returncode != 0
    assert "--resume" in refused.stderr
    mistyped = llmbench("study", str(spec), "--output-dir", str(tmp_path / "kiled"), "--resume")
    assert mistyped.returncode == 2
    assert "holds no study to resume" in mistyped.stderr
    assert not (tmp_path / "kiled" / "study.json").exists()
    resumed = llmbench("study", str(spec), "--output-dir", str(killed), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    after, reference = comparison(killed), comparison(whole)
    assert after.status == reference.status == "complete"
    assert runs_of(after) == runs_of(reference)
    assert set(complete(after)) == {r.dir for r in reference.runs}
    for directory, run in finished.items():  # kept as they were, not run again
        assert complete(after)[directory].run_id == run.run_id
    for run in after.runs:
        assert (killed / run.dir / "run.json").is_file()
    shown = llmbench("report", str(killed))  # rebuilt from the stored results
    assert shown.returncode == 0, shown.stderr
    assert "mean first-token latency" in shown.stdout


def test_an_endpoint_target_runs_and_a_named_key_must_be_set(
    tmp_path: Path, start_sim: StartSim
) -> None:
    url = start_sim(ttft_ms=5.0, itl_ms=1.0)
    spec: dict[str, Any] = {
        "targets": {
            "local": url,
            "keyed": {"base_url": url, "api_key_env": "LLMBENCH_TEST_NO_KEY"},
        },
        "workload": {"input_tokens": 8, "output_tokens": 4},
        "scenarios": {"baseline": {"requests": 2}},
    }
    path = write_spec(tmp_path / "s.yaml", spec)
    refused = llmbench("study", str(path), "--output-dir", str(tmp_path / "refused"))
    assert refused.returncode != 0
    assert "targets.keyed.api_key_env" in refused.stderr
    assert "LLMBENCH_TEST_NO_KEY" in refused.stderr
    assert not (tmp_path / "refused").exists()  # refused before anything started

    del spec["targets"]["keyed"]
    out = tmp_path / "ok"
    result = llmbench("study", str(write_spec(path, spec)), "--output-dir", str(out))
    assert result.returncode == 0, result.stderr
    study = comparison(out)
    assert study.targets[0].kind == "openai"
    assert study.targets[0].base_url == url
    assert headline(study, "local", "baseline", "rounds").ok == 2


def test_an_agent_service_endpoint_runs_the_agent_loop_scenario_as_tasks(
    tmp_path: Path, start_sim: StartSim
) -> None:
    url = start_sim(ttft_ms=5.0, itl_ms=1.0, task_options="steps:2,tool_ms:30")  # type: ignore[arg-type]
    spec: dict[str, Any] = {
        "targets": {
            "loop": "sim:deterministic",
            "service": {"kind": "manus", "base_url": url, "poll_interval_ms": 20},
        },
        "workload": {"input_tokens": 8, "output_tokens": 4},
        "scenarios": {
            "baseline": {"requests": 2},
            "agent-loop": {"tasks": 2, "screen_size": "90x200", "actuation": {"tap_s": 0.01}},
        },
    }
    out = tmp_path / "out"
    result = llmbench("study", str(write_spec(tmp_path / "s.yaml", spec)), "--output-dir", str(out))
    assert result.returncode == 0, result.stderr
    study = comparison(out)
    assert study.status == "complete"
    assert [(t, s) for t, s, _ in study.skipped] == [("service", "baseline")]  # no token stream
    assert {(r.target, r.scenario) for r in study.runs} == {
        ("loop", "baseline"), ("loop", "agent-loop"), ("service", "agent-loop")
    }  # fmt: skip
    service = load_source(out).scenario("agent-loop")
    runs = {e.target: e.run for e in service}
    tasks = runs["service"].tasks
    assert tasks is not None
    assert tasks.service is not None
    assert tasks.counts.ok == 2
    assert runs["service"].spec.target.kind == "manus"
    assert runs["loop"].agent_loop is not None
    assert "task API" in result.stdout
