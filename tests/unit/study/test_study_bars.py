"""The study's progress bars: a scenario of token runs counts toward its planned requests; a
scenario whose runs make their own requests (the agent loop, a task file) has no total (no
made-up ETA), and its finished runs are not counted as done requests."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from llmbench.cli.study import ScenarioBars
from llmbench.config.study_file import StudyFile
from llmbench.study.plan import plan_study


def test_bars_count_planned_requests_and_leave_agent_totals_open(tmp_path: Any) -> None:
    (tmp_path / "t.yaml").write_text(
        "tasks:\n  - name: t\n    steps:\n      - {id: a, prompt: hi}\n"
    )
    study = StudyFile.model_validate({
        "targets": {"a": "sim:deterministic", "b": "sim:cloud-warm"},
        "scenarios": {
            "baseline": {"requests": 3, "warmup": 1},
            "sessions": {"sessions": 2, "turns": 3},
            "agent-loop": {"tasks": 2},
            "tasks": {"file": str(tmp_path / "t.yaml")},
        },
    })  # fmt: skip
    runs = plan_study(study).runs
    bars = ScenarioBars(Console(file=io.StringIO()))
    bars.study_started(runs, done={runs[0].order})
    tasks = {t.fields["scenario"]: t for t in bars._progress.tasks}
    assert (tasks["baseline"].total, tasks["baseline"].completed) == (2 * 4, 4)
    assert tasks["sessions"].total == 2 * 2 * 6  # two steps, two targets, 2 sessions x 3 turns
    assert tasks["agent-loop"].total is None
    assert tasks["tasks"].total is None
