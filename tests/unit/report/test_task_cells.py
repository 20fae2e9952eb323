"""The task table's cells from run.json's `tasks` block (written by DAG task runs): the
stored numbers, milliseconds shown as seconds, every task that did not finish counted apart."""

from __future__ import annotations

from types import SimpleNamespace

from llmbench.report.tables import _stored_task_cells


def test_stored_task_block_cells() -> None:
    summary = SimpleNamespace(
        covers=SimpleNamespace(measured=10),
        counts=SimpleNamespace(ok=6, error=1, timeout=2, cancelled=1),
        tasks_per_s=1.23456,
        task_completion_ms=SimpleNamespace(mean=1500.0, p95=None),
    )
    # 10 tasks: 6 ok, 4 not (1 error + 2 timeouts + 1 cancelled, censored: counted, kept)
    assert _stored_task_cells(summary) == ("10", "6", "4", "1.235", "1.500", "–")
