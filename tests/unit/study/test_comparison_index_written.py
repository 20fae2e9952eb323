"""study.json as a comparison study starts it: every planned run `pending`, the spec stored
without credentials, and a second start in the same directory refused unless resuming."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmbench.config.study_file import StudyFile
from llmbench.errors import StoreError
from llmbench.store.study_index import load_any_study
from llmbench.store.study_schema import ComparisonIndex
from llmbench.study.comparison import start_index

SPEC = StudyFile.model_validate(
    {
        "targets": {"a": "sim:cloud-warm", "b": "https://user:hunter2@h.example/v1?token=abc"},
        "scenarios": {"baseline": {"requests": 2}, "rate": {"rates": [1, 2]}},
    }
)


def test_the_plan_is_written_before_any_run_without_credentials(tmp_path: Path) -> None:
    _, index = start_index(SPEC, tmp_path, {}, resume=False)
    text = (tmp_path / "study.json").read_text()
    assert "hunter2" not in text
    assert "token=abc" not in text
    stored = load_any_study(tmp_path)
    assert isinstance(stored, ComparisonIndex)
    assert stored == index
    assert stored.spec.targets["b"].base_url == "https://h.example/v1"  # type: ignore[union-attr]
    assert [r.status for r in stored.runs] == ["pending"] * 6
    assert [s.steps for s in stored.scenarios] == [["rounds"], ["rate-1", "rate-2"]]
    assert stored.environment is not None


def test_a_second_start_is_refused_and_a_changed_spec_cannot_resume(tmp_path: Path) -> None:
    start_index(SPEC, tmp_path, {}, resume=False)
    with pytest.raises(StoreError, match="already holds a study"):
        start_index(SPEC, tmp_path, {}, resume=False)
    changed = SPEC.model_copy(update={"repeats": 2})
    with pytest.raises(StoreError, match="not this study spec"):
        start_index(changed, tmp_path, {}, resume=True)
    _, again = start_index(SPEC, tmp_path, {}, resume=True)
    assert [r.status for r in again.runs] == ["pending"] * 6
