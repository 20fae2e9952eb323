"""docs/results-schema.json is generated from the models: it fails here when they drift."""

from __future__ import annotations

from pathlib import Path

from llmbench.store.schema import schema_text

COMMITTED = Path(__file__).parents[3] / "docs" / "results-schema.json"


def test_the_committed_json_schema_matches_the_models() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == schema_text(), (
        "the results models changed: run `python -m llmbench.store.schema` and commit "
        "docs/results-schema.json (and bump schema_version if files on disk change)"
    )
