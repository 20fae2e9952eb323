"""A replay trace, a dataset and a session trace enter the workload by their contents, as a
task file does: one path with other contents is another workload, one file at two paths is the
same workload, and runs without them hash as they always did."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from llmbench.config import RunSpec
from llmbench.report.comparison import workload_differences

TRACE = '{{"timestamp": 0, "input_length": {n}, "output_length": 2}}\n'
DATASET = '{{"prompt": "{text}"}}\n'
SESSIONS = '{{"session_id": "s", "input_length": {n}, "output_length": 2}}\n'


def _replay(path: Path) -> dict[str, Any]:
    return {"load": {"kind": "replay", "trace": str(path)}}


def _dataset(path: Path) -> dict[str, Any]:
    return {"workload": {"dataset": str(path)}}


def _sessions(path: Path) -> dict[str, Any]:
    load = {"warmup": 0, "requests": 4}
    return {"workload": {"sessions": 1, "session_trace": str(path)}, "load": load}


CASES = [(_replay, TRACE, "load.trace_sha256"), (_dataset, DATASET, "workload.dataset_sha256"),
         (_sessions, SESSIONS, "workload.session_trace_sha256")]  # fmt: skip


def _write(path: Path, template: str, value: str) -> Path:
    path.write_text(template.format(n=len(value), text=value))
    return path


def _samples(spec: RunSpec, name: str) -> Any:
    return SimpleNamespace(spec=spec.model_dump(mode="json"), directory=Path(name))


@pytest.mark.parametrize(("make", "template", "digest"), CASES)
def test_other_contents_at_one_path_are_another_workload(
    make: Any, template: str, digest: str, tmp_path: Path
) -> None:
    path = tmp_path / "input.jsonl"
    first = RunSpec.model_validate(make(_write(path, template, "hello")))
    second = RunSpec.model_validate(make(_write(path, template, "goodbye!")))
    assert first.spec_hash() != second.spec_hash()
    differences = workload_differences(_samples(first, "a"), _samples(second, "b"))
    assert [d.split(":")[0] for d in differences] == [digest]


@pytest.mark.parametrize(("make", "template", "digest"), CASES)
def test_one_file_at_two_paths_is_one_workload(
    make: Any, template: str, digest: str, tmp_path: Path
) -> None:
    here = _write(tmp_path / "input.jsonl", template, "hello")
    there = tmp_path / "elsewhere" / "copy.jsonl"
    there.parent.mkdir()
    shutil.copy(here, there)
    first, second = RunSpec.model_validate(make(here)), RunSpec.model_validate(make(there))
    assert first.spec_hash() == second.spec_hash()
    assert workload_differences(_samples(first, "a"), _samples(second, "b")) == []
    stored = first.model_dump(mode="json")
    here.unlink()  # a stored spec keeps its digest without the file
    assert RunSpec.model_validate(stored).spec_hash() == first.spec_hash()


def test_a_builtin_dataset_hashes_by_its_contents() -> None:
    spec = RunSpec.model_validate({"workload": {"dataset": "builtin:prompts"}})
    assert spec.workload.dataset_sha256 is not None
    other = RunSpec.model_validate({"workload": {"dataset": "builtin:sharegpt"}})
    assert other.workload.dataset_sha256 not in (None, spec.workload.dataset_sha256)


def test_runs_without_them_hash_as_before() -> None:
    assert RunSpec().spec_hash() == "b5895116906cc5a5"
    dumped = RunSpec().model_dump(mode="json")  # results files as before: no empty digests
    assert "dataset_sha256" not in dumped["workload"]
    assert "session_trace_sha256" not in dumped["workload"]
