"""The run settings of a DAG-task workload (docs/tasks.md): which task file, how its steps are
scheduled, and how many task instances run. The task file itself is read and checked by
`llmbench.workload.dag` before anything is sent."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from llmbench.config.digest import source_sha256
from llmbench.config.load import MAX_CONCURRENCY
from llmbench.config.load import Spec as _Spec

TaskMode = Literal["sequential", "concurrent"]


class TasksSpec(_Spec):
    """Run the tasks of a task file: each step starts as soon as the steps it depends on end."""

    file: str = Field(description="the task file (YAML, docs/tasks.md)")
    mode: TaskMode = Field(
        "concurrent",
        description="sequential: one step at a time; concurrent: every ready step, up to "
        "tasks.concurrency at once",
    )
    concurrency: int = Field(
        8, ge=1, le=MAX_CONCURRENCY, description="concurrent mode: steps in flight at most"
    )
    repeat: int = Field(
        1, ge=1, le=1_000_000, description="run the task list this many times (instances)"
    )
    file_sha256: str | None = Field(
        None,
        description="the task file's SHA-256 when the spec was resolved: runs of one path with "
        "other contents hash and compare as different workloads",
    )

    @model_validator(mode="before")
    @classmethod
    def _needs_a_file(cls, data: Any) -> Any:
        """Task settings without a task file: this one problem, not one per setting besides."""
        if isinstance(data, dict) and data.get("file") is None:
            raise ValueError("the task settings need a task file: set tasks.file (--tasks FILE)")
        if isinstance(data, dict) and data.get("file_sha256") is None:
            return {**data, "file_sha256": source_sha256(data["file"])}
        return data
