"""The why table shows an agent-service run's task completion split (`decomposition.tasks`),
each part as stored with its share of the mean task completion, its basis translated."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from llmbench.monitor.decomposition import Decomposition, PartStats, TaskParts
from llmbench.monitor.task_parts import TASK_BASIS
from llmbench.report.messages import Messages
from llmbench.report.source import RunEntry
from llmbench.report.why import decomposition_rows


def _entry() -> RunEntry:
    means = {"accept": 20.0, "human_wait": 100.0, "agent_work": 260.0, "polling_delay": 20.0}
    tasks = TaskParts(
        tasks=4,
        parts={
            p: PartStats(basis=TASK_BASIS[p], mean_ms=v, p95_ms=v, n=4) for p, v in means.items()
        },
        additive=list(means),
        sum_check_max_ms=0.0,
    )
    block = Decomposition(requests=0, parts={}, sum_check_max_ms=None, split_source=None,
                          split="none", additive=[], tasks=tasks)  # fmt: skip
    completion = SimpleNamespace(task_completion_ms=SimpleNamespace(mean=400.0))
    run = SimpleNamespace(decomposition=block, summary=None, tasks=completion)
    return RunEntry(Path("r"), run, "manus", "baseline", "r")  # type: ignore[arg-type]


def test_task_parts_are_rows_with_their_share_of_completion() -> None:
    rows = decomposition_rows(_entry(), "manus", Messages("en"))
    assert [r[1:5] for r in rows] == [
        ("task: accept", "20.0", "20.0", "5.0%"),
        ("task: human wait", "100.0", "100.0", "25.0%"),
        ("task: agent work", "260.0", "260.0", "65.0%"),
        ("task: polling delay", "20.0", "20.0", "5.0%"),
    ]
    zh = decomposition_rows(_entry(), "manus", Messages("zh"))
    assert zh[0][5] == "实测：提交 → 创建请求得到应答"
