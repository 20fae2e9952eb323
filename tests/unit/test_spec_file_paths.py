"""A relative path inside a spec file (a run spec or a study spec) is read from that file's
directory, not the working directory; a path typed as a flag stays relative to the working
directory; a problem with a named file still points at the file's line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import llmbench.cli.execution
from llmbench.cli.main import main
from llmbench.config import RunSpec
from llmbench.config.study_file import load_study_file
from llmbench.errors import ConfigError

TRACE = '{"timestamp": 0, "input_length": 8, "output_length": 2}\n'
DATASET = '{"prompt": "hello"}\n'
TASKS = "tasks:\n  - name: one\n    steps:\n      - id: a\n        prompt: hi\n"
LOOP = "tasks: 1\n"


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(llmbench.cli.execution, "execute", lambda *a: calls.append(a))
    for name in [n for n in __import__("os").environ if n.startswith("LLMBENCH_")]:
        monkeypatch.delenv(name)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # the working directory holds none of the files
    return calls


def _files(folder: Path) -> Path:
    folder.mkdir()
    (folder / "trace.jsonl").write_text(TRACE)
    (folder / "prompts.jsonl").write_text(DATASET)
    (folder / "tasks.yaml").write_text(TASKS)
    (folder / "loop.yaml").write_text(LOOP)
    return folder


def _run_spec(ran: list[tuple[Any, ...]], path: Path, text: str, *flags: str) -> RunSpec:
    path.write_text(text)
    main(["run", "--spec", str(path), *flags])
    spec = ran[-1][0]
    assert isinstance(spec, RunSpec)
    return spec


def test_run_spec_paths_are_read_beside_the_file(
    ran: list[tuple[Any, ...]], tmp_path: Path
) -> None:
    folder = _files(tmp_path / "specs")
    replay = _run_spec(ran, folder / "replay.yaml", "load: {kind: replay, trace: trace.jsonl}\n")
    assert getattr(replay.load, "trace", None) == str(folder / "trace.jsonl")
    assert getattr(replay.load, "trace_sha256", None) is not None
    text = "workload: {dataset: prompts.jsonl}\nload: {requests: 2}\n"
    dataset = _run_spec(ran, folder / "dataset.yaml", text)
    assert dataset.workload.dataset == str(folder / "prompts.jsonl")
    assert dataset.workload.dataset_sha256 is not None
    builtin = _run_spec(ran, folder / "builtin.yaml", "workload: {dataset: 'builtin:prompts'}\n")
    assert builtin.workload.dataset == "builtin:prompts"
    tasks = _run_spec(ran, folder / "tasks-run.yaml", "tasks: {file: tasks.yaml}\n")
    assert tasks.tasks is not None
    assert tasks.tasks.file == str(folder / "tasks.yaml")
    assert tasks.tasks.file_sha256 is not None
    loop = _run_spec(ran, folder / "loop-run.yaml", "agent_loop: {file: loop.yaml}\n")
    assert loop.agent_loop is not None
    assert loop.agent_loop.source == str(folder / "loop.yaml")


def test_a_flag_stays_relative_to_the_working_directory(
    ran: list[tuple[Any, ...]], tmp_path: Path
) -> None:
    folder = _files(tmp_path / "specs")
    Path("mine.jsonl").write_text(TRACE)
    text = "load: {kind: replay, trace: trace.jsonl}\n"
    spec = _run_spec(ran, folder / "replay.yaml", text, "--trace", "mine.jsonl")
    assert getattr(spec.load, "trace", None) == "mine.jsonl"


def test_a_missing_file_named_in_a_spec_points_at_its_line(
    ran: list[tuple[Any, ...]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _files(tmp_path / "specs")
    path = folder / "bad.yaml"
    path.write_text("name: x\nagent_loop:\n  file: nowhere.yaml\n")
    with pytest.raises(SystemExit):
        main(["run", "--spec", str(path)])
    assert not ran
    err = capsys.readouterr().err
    assert f"{path}:2:1: agent_loop" in err  # the agent_loop block, as before
    assert str(folder / "nowhere.yaml") in err  # the path it looked for


def test_study_workload_files_are_read_beside_the_study(tmp_path: Path) -> None:
    folder = _files(tmp_path / "study")
    path = folder / "study.yaml"
    path.write_text(
        "targets: {a: 'sim:deterministic'}\n"
        "scenarios: {baseline: {requests: 2}}\n"
        "workload: {dataset: prompts.jsonl}\n"
    )
    study = load_study_file(path, ["deterministic"])
    assert study.workload.dataset == str(folder / "prompts.jsonl")
    assert study.workload.dataset_sha256 is not None


def test_a_study_file_problem_still_names_its_line(tmp_path: Path) -> None:
    folder = _files(tmp_path / "study")
    path = folder / "study.yaml"
    path.write_text(
        "targets: {a: 'sim:deterministic'}\n"
        "scenarios:\n"
        "  loop: {kind: agent-loop, file: nowhere.yaml}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_study_file(path, ["deterministic"])
    assert f"{path}:3" in str(info.value)
    assert "nowhere.yaml" in str(info.value)
