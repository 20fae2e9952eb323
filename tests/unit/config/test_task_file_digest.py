"""A task file's contents are part of the workload: one path with other contents hashes and
compares as a different workload, one file at two paths as the same, and a stored spec reads
back without the file."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from llmbench.config import RunSpec
from llmbench.config.tasks import TasksSpec
from llmbench.report.comparison import workload_differences

TASKS = "tasks:\n  - name: one\n    steps:\n      - id: a\n        prompt: {text}\n"


def _spec(path: Path, text: str) -> RunSpec:
    path.write_text(TASKS.format(text=text))
    return RunSpec.model_validate({"tasks": {"file": str(path)}})


def _samples(spec: RunSpec, name: str) -> Any:
    return SimpleNamespace(spec=spec.model_dump(mode="json"), directory=Path(name))


def test_other_contents_at_one_path_are_another_workload(tmp_path: Path) -> None:
    path = tmp_path / "tasks.yaml"
    first, second = _spec(path, "hello"), _spec(path, "goodbye")
    assert first.tasks is not None
    assert second.tasks is not None
    assert first.tasks.file == second.tasks.file
    assert first.tasks.file_sha256 != second.tasks.file_sha256
    assert first.spec_hash() != second.spec_hash()
    differences = workload_differences(_samples(first, "a"), _samples(second, "b"))
    assert [d.split(":")[0] for d in differences] == ["tasks.file_sha256"]
    assert workload_differences(_samples(first, "a"), _samples(_spec(path, "hello"), "c")) == []


def test_a_stored_spec_keeps_its_digest_without_the_file(tmp_path: Path) -> None:
    path = tmp_path / "tasks.yaml"
    stored = _spec(path, "hello").model_dump(mode="json")
    path.unlink()
    again = RunSpec.model_validate(stored)
    assert again.tasks == TasksSpec.model_validate(stored["tasks"])
    assert again.tasks is not None
    assert again.tasks.file_sha256 == stored["tasks"]["file_sha256"]
    assert again.spec_hash() == RunSpec.model_validate(stored).spec_hash()


def test_one_file_at_two_paths_is_one_workload(tmp_path: Path) -> None:
    first = _spec(tmp_path / "tasks.yaml", "hello")
    there = tmp_path / "elsewhere" / "copy.yaml"
    there.parent.mkdir()
    shutil.copy(tmp_path / "tasks.yaml", there)
    second = RunSpec.model_validate({"tasks": {"file": str(there)}})
    assert first.spec_hash() == second.spec_hash()
    assert workload_differences(_samples(first, "a"), _samples(second, "b")) == []
