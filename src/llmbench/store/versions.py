"""Reading every schema version that was ever written: explicit per-version upgrades.

`RUN_UPGRADES[v]` turns a run.json of version v into version v + 1 (as a plain dict, before
validation); a file is upgraded one version at a time up to `SCHEMA_VERSION`, then validated
into the current model. Changing what is on disk means: bump SCHEMA_VERSION (and the models'
`schema_version` Literal), add the function that makes the new shape from the previous one,
and add a golden file of the new version under tests/golden/. An upgrade never reads the disk
and never drops a measured value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from llmbench.errors import SchemaVersionError

SCHEMA_VERSION = 1

Document = dict[str, Any]
Upgrade = Callable[[Document], Document]

# version v → the function making version v + 1 out of it (run.json and study.json).
RUN_UPGRADES: dict[int, Upgrade] = {}
STUDY_UPGRADES: dict[int, Upgrade] = {}


def spec_upgrade(convert: Callable[[Document], Document]) -> Upgrade:
    """An upgrade that converts the stored `spec` (run.json and study.json keep one each), for
    a change of the spec's shape: `RUN_UPGRADES[1] = STUDY_UPGRADES[1] = spec_upgrade(f)`."""

    def upgrade(document: Document) -> Document:
        if not isinstance(document.get("spec"), dict):
            return document
        return {**document, "spec": convert(document["spec"])}

    return upgrade


def upgrade(
    document: Document,
    *,
    where: str,
    current: int = SCHEMA_VERSION,
    upgrades: Mapping[int, Upgrade],
) -> Document:
    """The document brought to version `current`, one explicit step at a time."""
    version = document.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SchemaVersionError(
            f"{where}: schema_version {version!r} is not a version llmbench ever wrote",
            hint="the file was edited or is not an llmbench results file",
        )
    if version > current:
        raise SchemaVersionError(
            f"{where}: schema_version {version}; this llmbench reads up to {current}",
            hint="read it with a newer llmbench (the one that wrote it, or later)",
        )
    while version < current:
        step = upgrades.get(version)
        if step is None:
            raise SchemaVersionError(
                f"{where}: no upgrade from schema_version {version}",
                hint="read it with the llmbench version that wrote it",
            )
        document = {**step(document), "schema_version": version + 1}
        version += 1
    return document
