"""`llmbench study --store`: the comparison study and each of its runs land in the history, with
the study's own target and scenario names, as real processes over loopback."""

from __future__ import annotations

from pathlib import Path

import yaml
from sqlalchemy import select

from llmbench.store.db.database import HistoryStore
from llmbench.store.db.queries import RunFilter, list_runs
from llmbench.store.db.tables import studies
from support.cli import llmbench

SPEC = {
    "targets": {"a": "sim:deterministic", "b": "sim:cloud-warm"},
    "workload": {"input_tokens": 16, "output_tokens": 4},
    "scenarios": {"baseline": {"requests": 2}},
}


def test_a_study_records_itself_and_its_runs(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    store = str(tmp_path / "h.db")
    out = tmp_path / "study"
    done = llmbench("study", str(spec), "--output-dir", str(out), "--store", store,
                    "--label", "weekly", timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "stored 2 run(s) in the history" in done.stderr
    with HistoryStore.open(store) as opened, opened.read() as connection:
        stored = list_runs(connection, RunFilter(label="weekly"))
        row = connection.execute(select(studies.c.study_id, studies.c.kind, studies.c.pk)).one()
    assert (row.study_id, row.kind) == ("study", "comparison")
    assert sorted((r.target, r.scenario.split(":")[0]) for r in stored) == [
        ("a", "baseline"), ("b", "baseline")]  # fmt: skip
    assert all(r.n_requests == 2 and r.status == "complete" for r in stored)
    assert all(Path(r.results_path).parent == out.resolve() for r in stored)
