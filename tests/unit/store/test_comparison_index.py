"""study.json of a comparison study (`kind: comparison`): it loads and rewrites to the same bytes,
the steps-study reader refuses it with a clear message, and a steps study still reads as before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmbench.errors import StoreError
from llmbench.store.codec import any_study_from_json, study_from_json, to_json
from llmbench.store.study_index import load_any_study, load_study_index, write_study_index
from llmbench.store.study_schema import ComparisonIndex, StudyIndex
from support.comparison import GOLDEN, example_index

STEPS_STUDY = Path(__file__).parents[2] / "golden" / "results-v2" / "repeat" / "study.json"


def test_golden_comparison_study_is_what_the_model_writes() -> None:
    assert to_json(example_index()) == GOLDEN.read_text(encoding="utf-8")


def test_golden_comparison_study_loads_and_rewrites_to_the_same_bytes() -> None:
    text = GOLDEN.read_text(encoding="utf-8")
    study = any_study_from_json(json.loads(text), str(GOLDEN))
    assert isinstance(study, ComparisonIndex)
    assert to_json(study) == text
    assert [r.status for r in study.runs] == [
        "complete",
        "complete",
        "failed",
        "pending",
        "pending",
        "pending",
    ]
    assert study.spec.targets["self-hosted"].kind == "sim"
    first = study.runs[0].headline
    assert first is not None
    assert first.ttft_ms.p95 == 109.5


def test_a_steps_study_still_reads_as_a_steps_study() -> None:
    data = json.loads(STEPS_STUDY.read_text(encoding="utf-8"))
    assert "kind" not in data
    assert isinstance(any_study_from_json(data, "s"), StudyIndex)
    assert isinstance(study_from_json(data, "s"), StudyIndex)


def test_the_steps_reader_refuses_a_comparison_study_by_name(tmp_path: Path) -> None:
    write_study_index(tmp_path, example_index())
    with pytest.raises(StoreError, match="comparison study"):
        load_study_index(tmp_path)
    assert load_any_study(tmp_path) == example_index()


def test_a_wrong_field_is_named() -> None:
    data = json.loads(GOLDEN.read_text(encoding="utf-8"))
    data["runs"][0]["status"] = "done"
    with pytest.raises(StoreError, match=r"runs\.0\.status"):
        any_study_from_json(data, "x/study.json")
