"""The one place results files meet JSON: a model to its text, and a file's text (any schema
version) to the current model. Nothing else reads or writes run.json / study.json by key.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from llmbench.config.problems import untagged
from llmbench.errors import StoreError
from llmbench.store.run_schema import Block, RunResult
from llmbench.store.study_schema import AnyStudy, ComparisonIndex, StudyIndex
from llmbench.store.versions import RUN_UPGRADES, SCHEMA_VERSION, STUDY_UPGRADES, Document, upgrade

M = TypeVar("M", RunResult, StudyIndex, ComparisonIndex)


def to_document(model: Block) -> Document:
    """The JSON-ready dict of a results model: `schema_version` first, then the fields that
    were set (a block a run has not reached yet is absent, not null)."""
    data = model.model_dump(mode="json")
    data.pop("schema_version", None)
    return {"schema_version": SCHEMA_VERSION, **data}


def to_json(model: Block) -> str:
    """The file's text: 2-space indent, strict JSON (no NaN), a final newline."""
    return json.dumps(to_document(model), indent=2, allow_nan=False) + "\n"


def write_atomic(path: Path, model: Block) -> None:
    """Through a temporary file and a rename: a reader never sees half a file. Raises OSError."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(to_json(model))
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def _validated(kind: type[M], document: Document, where: str) -> M:
    try:
        return kind.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(map(str, untagged(kind, first["loc"]))) or "(top level)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        hint = "the file was edited or corrupted; restore it"
        if first["loc"][:1] == ("spec",):  # a spec rule changed without an upgrade for old files
            hint = "read it with the llmbench that wrote it; this one lacks the upgrade of its spec"
        raise StoreError(f"{where}: {field}: {first['msg']}{more}", hint=hint) from None


def _document(data: Any, where: str) -> Document:
    if not isinstance(data, dict):
        raise StoreError(f"{where}: not a JSON object", hint="pass an llmbench results file")
    return data


def run_from_json(data: Any, where: str) -> RunResult:
    """A parsed run.json of any version, upgraded and validated."""
    document = upgrade(_document(data, where), where=where, upgrades=RUN_UPGRADES)
    return _validated(RunResult, document, where)


def study_from_json(data: Any, where: str) -> StudyIndex:
    """A parsed study.json of a steps study (any version), upgraded and validated."""
    study = any_study_from_json(data, where)
    if isinstance(study, ComparisonIndex):
        raise StoreError(
            f"{where}: a comparison study (several targets), not the steps of one",
            hint="read it with `llmbench report`, or pass one of its run directories",
        )
    return study


def any_study_from_json(data: Any, where: str) -> AnyStudy:
    """A parsed study.json of either kind (steps or comparison), upgraded and validated."""
    document = upgrade(_document(data, where), where=where, upgrades=STUDY_UPGRADES)
    if document.get("kind") == "comparison":
        return _validated(ComparisonIndex, document, where)
    return _validated(StudyIndex, document, where)


def read_json(path: Path) -> Any:
    """A file's JSON; StoreError naming the file when it is unreadable or not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise StoreError(f"{path}: not valid JSON ({exc})") from exc
