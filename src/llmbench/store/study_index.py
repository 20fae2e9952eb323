"""A study directory: one run directory per step (or repeat) and `study.json`, the index that
lists the steps with their headline numbers, rewritten after each step so a stopped study keeps
what it finished.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from llmbench.errors import StoreError
from llmbench.store.results import SCHEMA_VERSION

STUDY_FILE = "study.json"


def write_study_index(directory: Path, index: dict[str, Any]) -> None:
    """Writes study.json atomically (temporary file, then rename)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / (STUDY_FILE + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            json.dump({"schema_version": SCHEMA_VERSION, **index}, f, indent=2, allow_nan=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(directory / STUDY_FILE)
    except OSError as exc:
        raise StoreError(
            f"cannot write {directory / STUDY_FILE}: {exc.strerror or exc}",
            hint="choose a writable --output-dir with free space",
        ) from exc


def load_study_index(directory: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads((directory / STUDY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(f"{directory} is not a study directory: {exc}") from exc
    return data
