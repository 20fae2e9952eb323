"""The results schema: the models of run.json and study.json, and their JSON Schema.

`python -m llmbench.store.schema` writes docs/results-schema.json from the models;
tests/unit/store/test_schema_file.py fails when the committed file differs from them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic.json_schema import models_json_schema

from llmbench.store.run_schema import Distribution, RunResult
from llmbench.store.study_schema import ComparisonIndex, StudyIndex
from llmbench.store.versions import SCHEMA_VERSION

__all__ = [
    "ComparisonIndex",
    "Distribution",
    "RunResult",
    "StudyIndex",
    "json_schema",
    "schema_text",
]

SCHEMA_FILE = Path("docs") / "results-schema.json"


def json_schema() -> dict[str, Any]:
    """One JSON Schema document: a results file is a run.json or a study.json."""
    refs, document = models_json_schema(
        [(RunResult, "validation"), (StudyIndex, "validation"), (ComparisonIndex, "validation")],
        ref_template="#/$defs/{model}",
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"llmbench results, schema_version {SCHEMA_VERSION}",
        "description": (
            "run.json or study.json (steps or comparison) of a results directory "
            "(docs/results-schema.md)"
        ),
        "oneOf": [
            refs[(RunResult, "validation")],
            refs[(StudyIndex, "validation")],
            refs[(ComparisonIndex, "validation")],
        ],
        **document,
    }


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else SCHEMA_FILE
    path.write_text(schema_text(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
