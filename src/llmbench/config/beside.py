"""A relative path written in a spec file (run spec or study spec) names a file beside that
spec file: it is made relative to the spec file's directory before the spec is validated (and
before the files' digests are taken). Paths typed as flags, in `LLMBENCH_*` variables or with
`--set` stay relative to the working directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

Loc = tuple[str, ...]

# Settings of a run spec that name a file (a `builtin:NAME` dataset names none).
RUN_SPEC_FILES: tuple[Loc, ...] = (
    ("tasks", "file"),
    ("agent_loop", "file"),
    ("workload", "dataset"),
    ("workload", "session_trace"),
    ("load", "trace"),
)
# The study spec's own: its workload (a scenario's `file` is FILE_KINDS in study_file.py).
STUDY_SPEC_FILES: tuple[Loc, ...] = (("workload", "dataset"), ("workload", "session_trace"))


def beside(path: str, base: Path) -> str:
    """`path` as read from a spec file in `base`: unchanged when absolute or a bundled name."""
    if not path or path.startswith("builtin:") or Path(path).is_absolute():
        return path
    return str(base / path)


def files_beside(data: Any, base: Path, locs: tuple[Loc, ...]) -> Any:
    """A copy of a spec file's data with the relative paths at `locs` made relative to `base`."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for loc in locs:
        node: dict[str, Any] = out
        for key in loc[:-1]:
            inner = node.get(key)
            if not isinstance(inner, dict):
                break
            copied = dict(inner)
            node[key] = copied
            node = copied
        else:
            value = node.get(loc[-1])
            if isinstance(value, str):
                node[loc[-1]] = beside(value, base)
    return out
