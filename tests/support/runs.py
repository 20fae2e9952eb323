"""Typed run.json models for tests: the golden files llmbench wrote, with blocks replaced."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmbench.config import RunSpec
from llmbench.store.results import read_run_file
from llmbench.store.run_schema import RunResult
from llmbench.store.study_index import load_study_index
from llmbench.store.study_schema import StudyIndex

GOLDEN_V1 = Path(__file__).parents[1] / "golden" / "results-v1"


def golden_run(name: str = "closed") -> RunResult:
    """tests/golden/results-v1/<name>/run.json (closed, open-slo, workers, running, ...)."""
    return read_run_file(GOLDEN_V1 / name / "run.json")


def run_with(
    spec: dict[str, Any] | RunSpec | None = None, *, base: str = "closed", **blocks: Any
) -> RunResult:
    """A golden run with its spec (validated) and any top-level blocks replaced."""
    update = dict(blocks)
    if spec is not None:
        update["spec"] = spec if isinstance(spec, RunSpec) else RunSpec.model_validate(spec)
    return golden_run(base).model_copy(update=update)


def study_of(directories: list[str]) -> StudyIndex:
    """The golden concurrency-sweep study.json with its steps pointing at `directories`."""
    base = load_study_index(GOLDEN_V1 / "concurrency-sweep")
    first = base.steps[0]
    steps = [
        first.model_copy(update={"step": k + 1, "dir": name, "label": name})
        for k, name in enumerate(directories)
    ]
    return base.model_copy(update={"steps": steps})
