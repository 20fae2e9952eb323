"""Terminal view of image payloads and of the agent loop (docs/agent-loop.md): latency, prompt
tokens, payload and cached share by step index, then the per-task split of time between the
model and actuation waits."""

from __future__ import annotations

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from llmbench.store.run_schema import AgentLoopSummary, RunResult


def _f(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def payload_line(run: RunResult | None) -> list[RenderableType]:
    summary = run.summary if run is not None else None
    if summary is None or summary.payload_bytes is None or not summary.payload_bytes.n:
        return []
    sizes = summary.payload_bytes
    text = f"request payload: mean {_f((sizes.mean or 0) / 1024)} KiB, max "
    text += f"{_f((sizes.max or 0) / 1024)} KiB (n={sizes.n})"
    if summary.images_per_s:
        text += f"; images {_f(summary.images_per_s, 2)}/s"
    return [Text(text)]


def agent_loop_table(block: AgentLoopSummary) -> Table:
    statuses = ", ".join(f"{k} {v}" for k, v in block.by_status.items() if v)
    table = Table(
        title=f"agent loop: {block.tasks} tasks ({statuses}), history {block.history}",
        title_justify="left",
    )
    for column in ("step", "n", "TTFT p50", "think p50", "E2E p50", "prompt tok",
                   "payload KiB", "images", "cached"):  # fmt: skip
        table.add_column(column, justify="right", no_wrap=True)
    for row in block.per_step:
        table.add_row(
            str(row.step), str(row.n), _f(row.ttft_ms_p50), _f(row.thinking_ms_p50),
            _f(row.e2e_ms_p50), _f(row.prompt_tokens_mean, 0),
            _f(None if row.payload_bytes_mean is None else row.payload_bytes_mean / 1024),
            _f(row.images_mean), _pct(row.cached_share),
        )  # fmt: skip
    return table


def _censored(by_why: dict[str, int]) -> str:
    """`; censored: step_cap 2` — tasks cut before they finished, kept out of completion."""
    if not by_why:
        return ""
    return "; censored: " + ", ".join(f"{why} {n}" for why, n in by_why.items())


def agent_loop_lines(run: RunResult | None) -> list[RenderableType]:
    block = run.agent_loop if run is not None else None
    if block is None:
        return []
    done = block.task_completion_ms
    line = (
        f"tasks: completion p50 {_f((done.p50 or 0) / 1000, 2)} s (n={done.n} ok"
        f"{_censored(block.censored)}); "
        f"model {_pct(block.model_share.mean)} and actuation {_pct(block.actuation_share.mean)} "
        f"of a task's time (means); {_f(block.steps_per_task.mean)} steps a task"
    )
    return [agent_loop_table(block), Text(line)]
