"""Files a spec names enter the workload by their contents, not their path: a replay trace
(`load.trace`), a dataset (`workload.dataset`, a bundled `builtin:NAME` by its bundled file),
a session trace (`workload.session_trace`) and a task file (`tasks.file`). Each has a
`*_sha256` beside it, filled when the spec is resolved and kept in results, so a stored spec
reads back without the file.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path
from typing import Any

# (block, path field, digest field): the path counts for the workload only when no digest is.
BY_CONTENTS = (
    ("load", "trace", "trace_sha256"),
    ("workload", "dataset", "dataset_sha256"),
    ("workload", "session_trace", "session_trace_sha256"),
    ("tasks", "file", "file_sha256"),
)
_BUILTIN = "builtin:"


def source_sha256(source: object) -> str | None:
    """The SHA-256 of a file, or of the bundled file of `builtin:NAME`; None when it cannot be
    read (the reader of that file says why when the run starts)."""
    text = str(source)
    try:
        if text.startswith(_BUILTIN):
            bundled = resources.files("llmbench").joinpath(
                "workload", "data", f"{text.removeprefix(_BUILTIN)}.jsonl"
            )
            return hashlib.sha256(bundled.read_bytes()).hexdigest()
        return hashlib.sha256(Path(text).read_bytes()).hexdigest()
    except OSError:
        return None


def with_digests(data: Any, fields: dict[str, str]) -> Any:
    """A model's raw input with each named file's digest added where not given (`fields`: path
    field → digest field); a stored spec's digest is kept as it is."""
    if not isinstance(data, dict):
        return data
    missing = {
        digest: source_sha256(data[path])
        for path, digest in fields.items()
        if data.get(path) is not None and data.get(digest) is None
    }
    return {**data, **missing} if missing else data


def without_unknown(dumped: dict[str, Any], digests: tuple[str, ...]) -> dict[str, Any]:
    """A model's dump without its digests that are None: specs and results files without these
    files are written byte for byte as before the digests existed."""
    for name in digests:
        if dumped.get(name, "") is None:
            del dumped[name]
    return dumped


def by_contents(spec: dict[str, Any]) -> dict[str, Any]:
    """A dumped spec with each file named by its digest alone where one is known (its path
    dropped), and unknown digests dropped: what the spec hash and workload comparisons read."""
    out = dict(spec)
    for block, path, digest in BY_CONTENTS:
        values = out.get(block)
        if not isinstance(values, dict) or digest not in values:
            continue
        values = dict(values)
        if values[digest] is not None:
            values.pop(path, None)
        else:
            del values[digest]
        out[block] = values
    return out
