"""A study directory: one run directory per step (or repeat) and `study.json`, the index that
lists the steps with their headline numbers, rewritten after each step so a stopped study keeps
what it finished.
"""

from __future__ import annotations

from pathlib import Path

from llmbench.errors import StoreError
from llmbench.store.codec import read_json, study_from_json, write_atomic
from llmbench.store.study_schema import StudyIndex

STUDY_FILE = "study.json"


def write_study_index(directory: Path, index: StudyIndex) -> None:
    """Writes study.json atomically (temporary file, then rename)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        write_atomic(directory / STUDY_FILE, index)
    except OSError as exc:
        raise StoreError(
            f"cannot write {directory / STUDY_FILE}: {exc.strerror or exc}",
            hint="choose a writable --output-dir with free space",
        ) from exc


def load_study_index(directory: Path) -> StudyIndex:
    """study.json of any schema version, as the current model."""
    path = directory / STUDY_FILE
    if not path.is_file():
        raise StoreError(f"{directory} is not a study directory: no {STUDY_FILE}")
    return study_from_json(read_json(path), str(path))
