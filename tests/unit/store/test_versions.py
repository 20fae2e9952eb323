"""The upgrade chain: every earlier schema version is brought to the current one through
explicit per-version functions, in order; newer, unknown or broken versions are clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args

import pytest

from llmbench.errors import SchemaVersionError, StoreError
from llmbench.store.codec import run_from_json, study_from_json
from llmbench.store.results import RUN_FILE, load_run
from llmbench.store.study_schema import VerdictName
from llmbench.store.versions import RUN_UPGRADES, SCHEMA_VERSION, spec_upgrade, upgrade
from llmbench.study.search import Verdict

V1 = Path(__file__).parents[2] / "golden" / "results-v1"


def _v1_to_v2(doc: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in doc.items() if k != "when"}
    return {**out, "started_at": doc["when"]}


def _v2_to_v3(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "steps_seen": [*doc.get("steps_seen", []), 2]}


def test_an_older_version_is_upgraded_step_by_step_in_order() -> None:
    synthetic_v1 = {"schema_version": 1, "when": "t0", "steps_seen": []}
    out = upgrade(synthetic_v1, where="f", current=3, upgrades={1: _v1_to_v2, 2: _v2_to_v3})
    assert out == {"schema_version": 3, "started_at": "t0", "steps_seen": [2]}
    assert synthetic_v1["schema_version"] == 1  # the input is not changed


def test_a_missing_step_is_a_clear_error() -> None:
    with pytest.raises(SchemaVersionError, match="no upgrade from schema_version 2"):
        upgrade({"schema_version": 1, "when": "t"}, where="f", current=3, upgrades={1: _v1_to_v2})


@pytest.mark.parametrize("version", [None, "1", True, 0, -3])
def test_a_version_never_written_is_an_error(version: Any) -> None:
    with pytest.raises(SchemaVersionError, match="not a version"):
        upgrade({"schema_version": version}, where="f", upgrades={})


def test_a_newer_version_names_what_this_llmbench_reads(tmp_path: Path) -> None:
    directory = tmp_path / "run"
    directory.mkdir()
    (directory / RUN_FILE).write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(SchemaVersionError, match=f"reads up to {SCHEMA_VERSION}"):
        load_run(directory)


def test_the_current_version_has_an_upgrade_from_every_earlier_one() -> None:
    assert sorted(RUN_UPGRADES) == list(range(1, SCHEMA_VERSION))


def test_a_spec_upgrade_converts_the_stored_spec_only() -> None:
    step = spec_upgrade(lambda spec: {**spec, "load": {"kind": spec["load"]["profile"]}})
    doc = {"schema_version": 1, "run_id": "r", "spec": {"load": {"profile": "concurrency"}}}
    out = upgrade(doc, where="f", current=2, upgrades={1: step})
    assert out == {"schema_version": 2, "run_id": "r", "spec": {"load": {"kind": "concurrency"}}}


def test_a_golden_run_goes_through_a_synthetic_upgrade_into_the_model() -> None:
    """The chain feeds the model: a v1 file with a renamed field made right by its upgrade."""
    data = json.loads((V1 / "closed" / RUN_FILE).read_text())
    older = {k: v for k, v in data.items() if k != "started_at"} | {"when": data["started_at"]}
    upgraded = upgrade(older, where="f", current=2, upgrades={1: _v1_to_v2})
    run = run_from_json({**upgraded, "schema_version": 1}, "f")
    assert run.started_at == data["started_at"]


def test_a_field_of_the_wrong_type_names_the_field() -> None:
    data = json.loads((V1 / "closed" / RUN_FILE).read_text())
    data["summary"]["ttft_ms"]["n"] = "many"
    with pytest.raises(StoreError, match=r"summary\.ttft_ms\.n"):
        run_from_json(data, "run.json")


def test_an_unknown_field_is_an_error_not_ignored() -> None:
    data = json.loads((V1 / "repeat" / "study.json").read_text())
    data["steps"][0]["surprise"] = 1
    with pytest.raises(StoreError, match=r"steps\.0\.surprise"):
        study_from_json(data, "study.json")


def test_the_stored_verdicts_are_the_study_layers_verdicts() -> None:
    """study.json types a verdict by name (the store sits below study/): the same values."""
    assert set(get_args(VerdictName)) == {v.value for v in Verdict}


def test_a_spec_the_current_rules_refuse_says_an_upgrade_is_missing() -> None:
    data = json.loads((V1 / "closed" / RUN_FILE).read_text())
    data["spec"]["load"]["concurrency"] = 0
    with pytest.raises(StoreError, match=r"spec\.load\.concurrency") as refused:
        run_from_json(data, "run.json")
    assert refused.value.hint is not None
    assert "upgrade of its spec" in refused.value.hint
