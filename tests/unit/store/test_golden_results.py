"""Results files written by earlier llmbench versions (tests/golden/results-v*/) load into the
current model, and writing a loaded model gives back the same bytes llmbench wrote."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from llmbench.report.load import study_summary
from llmbench.report.terminal import run_summary
from llmbench.store.codec import run_from_json, study_from_json, to_json
from llmbench.store.results import load_run, load_run_columns
from llmbench.store.run_schema import ClosedLoopDelivery, OpenLoopDelivery, RunResult
from llmbench.store.study_index import load_study_index
from llmbench.store.study_schema import StudyIndex

GOLDEN = Path(__file__).parents[2] / "golden"
RUN_FILES = sorted(GOLDEN.glob("results-v*/**/run.json"))
STUDY_FILES = sorted(GOLDEN.glob("results-v*/**/study.json"))
V1 = GOLDEN / "results-v1"


def _name(path: Path) -> str:
    return str(path.relative_to(GOLDEN))


def test_every_kind_of_file_is_there() -> None:
    assert len(RUN_FILES) >= 20
    assert len(STUDY_FILES) == 4


@pytest.mark.parametrize("path", RUN_FILES, ids=_name)
def test_run_json_loads_and_rewrites_to_the_same_bytes(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    run = run_from_json(json.loads(text), str(path))
    assert to_json(run) == text
    again = run_from_json(json.loads(to_json(run)), "again")
    assert again == run


@pytest.mark.parametrize("path", STUDY_FILES, ids=_name)
def test_study_json_loads_and_rewrites_to_the_same_bytes(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    study = study_from_json(json.loads(text), str(path))
    assert to_json(study) == text
    assert study_from_json(json.loads(to_json(study)), "again") == study


def test_closed_loop_run_reads_as_typed_blocks() -> None:
    loaded = load_run(V1 / "closed")
    run = loaded.run
    assert isinstance(run, RunResult)
    assert loaded.warnings == []
    assert run.status == "complete"
    assert run.spec.load.concurrency == 4
    assert isinstance(run.delivery, ClosedLoopDelivery)
    assert run.counts is not None
    assert run.counts.ok == 24
    assert run.counts.warmup == 4
    assert run.summary is not None
    assert run.summary.ttft_ms.n == 24
    assert run.goodput is None
    assert run.client is not None
    assert run.client.workers is None
    assert len(loaded.records) == 28
    assert load_run_columns(V1 / "closed").columns.n_records == 28


def test_open_loop_run_with_objectives() -> None:
    run = load_run(V1 / "open-slo").run
    assert run is not None
    assert isinstance(run.delivery, OpenLoopDelivery)
    assert run.goodput is not None
    assert run.goodput.latency_from == "scheduled"
    assert run.spec.slo is not None
    assert run.spec.slo.ttft_ms == 500


def test_run_with_worker_processes_has_their_blocks() -> None:
    run = load_run(V1 / "workers").run
    assert run is not None
    assert run.workers is not None
    assert run.client is not None
    assert run.workers.processes == 2
    assert run.workers.per_worker is not None
    assert run.client.workers is not None
    assert run.client.parent is not None
    assert run.client.cpu.worker_id is not None


def test_a_run_killed_while_running_has_no_summary() -> None:
    run = load_run(V1 / "running").run
    assert run is not None
    assert run.status == "running"
    assert run.summary is None
    assert run.finished_at is None
    assert run.delivery is None


@pytest.mark.parametrize(
    ("study", "block"),
    [("concurrency-sweep", None), ("repeat", "across_runs"), ("sweep", "sweep"),
     ("slo-search", "search")],
)  # fmt: skip
def test_studies_load_with_their_blocks(study: str, block: str | None) -> None:
    index = load_study_index(V1 / study)
    assert isinstance(index, StudyIndex)
    assert index.status == "complete"
    assert [s.step for s in index.steps] == list(range(1, len(index.steps) + 1))
    for name in ("sweep", "search", "across_runs"):
        assert (getattr(index, name) is not None) == (name == block)
    for step in index.steps:
        assert load_run(V1 / study / step.dir).run is not None


@pytest.mark.parametrize("path", RUN_FILES, ids=_name)
def test_every_golden_run_renders_in_the_terminal(path: Path) -> None:
    run = run_from_json(json.loads(path.read_text(encoding="utf-8")), str(path))
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(run_summary(run))
    text = console.export_text()
    assert f"run {run.run_id}" in text
    if run.summary is not None:
        assert f"ok {run.counts.ok if run.counts else '?'}" in text
        assert "TTFT" in text


@pytest.mark.parametrize("path", STUDY_FILES, ids=_name)
def test_every_golden_study_renders_its_steps(path: Path) -> None:
    study = study_from_json(json.loads(path.read_text(encoding="utf-8")), str(path))
    console = Console(width=250, record=True, file=io.StringIO())
    console.print(study_summary(study, str(path.parent)))
    text = console.export_text()
    assert f"{study.study} study [complete]" in text
    assert all(step.label in text for step in study.steps)
