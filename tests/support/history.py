"""Results directories for the history store's tests: a complete run of N requests made from
the golden run (its run.json, its records repeated with their own ids), optionally ending in
a torn line as a killed writer leaves it."""

from __future__ import annotations

from pathlib import Path

import orjson

from llmbench.store.codec import write_atomic
from llmbench.store.results import read_run_file

GOLDEN = Path(__file__).parents[1] / "golden" / "results-v2" / "closed"


def synthetic_run(directory: Path, n: int, *, torn: bool = False) -> Path:
    """`directory` with run.json (run_id = its name) and `n` records (+ a torn line)."""
    run = read_run_file(GOLDEN / "run.json").model_copy(update={"run_id": directory.name})
    directory.mkdir(parents=True)
    write_atomic(directory / "run.json", run)
    lines = (GOLDEN / "records.jsonl").read_bytes().splitlines()
    with (directory / "records.jsonl").open("wb") as f:
        for i in range(n):
            data = orjson.loads(lines[i % len(lines)])
            data["request_id"] = f"{directory.name}-{i}"
            f.write(orjson.dumps(data) + b"\n")
        if torn:
            f.write(lines[0][: len(lines[0]) // 2])
    return directory
