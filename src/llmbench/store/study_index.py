"""A study directory: one run directory per step (or repeat) and `study.json`, the index that
lists the steps with their headline numbers, rewritten after each step so a stopped study keeps
what it finished.
"""

from __future__ import annotations

from pathlib import Path

from llmbench.errors import StoreError
from llmbench.store.codec import any_study_from_json, read_json, study_from_json, write_atomic
from llmbench.store.study_schema import AnyStudy, ComparisonIndex, StudyIndex

STUDY_FILE = "study.json"


def write_study_index(directory: Path, index: StudyIndex | ComparisonIndex) -> None:
    """Writes study.json atomically (temporary file, then rename)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        write_atomic(directory / STUDY_FILE, index)
    except OSError as exc:
        raise StoreError(
            f"cannot write {directory / STUDY_FILE}: {exc.strerror or exc}",
            hint="choose a writable --output-dir with free space",
        ) from exc


def _study_file(directory: Path) -> Path:
    path = directory / STUDY_FILE
    if not path.is_file():
        raise StoreError(f"{directory} is not a study directory: no {STUDY_FILE}")
    return path


def load_study_index(directory: Path) -> StudyIndex:
    """study.json of a steps study (any schema version), as the current model; StoreError for
    a comparison study."""
    path = _study_file(directory)
    return study_from_json(read_json(path), str(path))


def load_any_study(directory: Path) -> AnyStudy:
    """study.json of either kind: `StudyIndex` (one target's steps) or `ComparisonIndex`."""
    path = _study_file(directory)
    return any_study_from_json(read_json(path), str(path))
