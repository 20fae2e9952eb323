"""The terminal lines of a Ray run's `client.nodes`: per node, its workers, what it runs on, and
its workers' watch pooled; a node whose versions differ from the driver's is flagged."""

from __future__ import annotations

from rich.text import Text

from llmbench.store.node_schema import NodeHealth
from llmbench.store.run_schema import RunResult


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} ms"


def _node_line(node: NodeHealth) -> Text:
    where = ", ".join(
        part
        for part in (
            node.hostname,
            node.cpu_model,
            None if node.cpu_logical is None else f"{node.cpu_logical} CPUs",
            None if node.python is None else f"Python {node.python}",
            None if node.llmbench is None else f"llmbench {node.llmbench}",
        )
        if part
    )
    workers = ", ".join(str(w) for w in node.workers)
    lost = f" ({', '.join(str(w) for w in node.lost)} lost)" if node.lost else ""
    cpu = "–" if node.cpu_s is None else f"{node.cpu_s:.2f} s"
    if node.cpu_mean_cores is not None:
        cpu += f", mean {node.cpu_mean_cores:.2f} cores"
    verdict = "saturated" if node.saturated else "not saturated"
    return Text(
        f"node {node.node}: workers {workers}{lost}; {where or 'environment unknown'}; "
        f"loop lag P99 {_ms(node.loop_lag_ms_p99)}, max {_ms(node.loop_lag_ms_max)}; "
        f"CPU {cpu}; {verdict}",
        style="red" if node.saturated else "dim",
    )


def node_lines(run: RunResult | None) -> list[Text]:
    """One line per node (and its reasons when saturated); nothing for a run not on Ray."""
    nodes = run.client.nodes if run is not None and run.client is not None else None
    return lines_of(nodes or [])


def lines_of(nodes: list[NodeHealth]) -> list[Text]:
    lines: list[Text] = []
    for node in nodes:
        lines.append(_node_line(node))
        lines += [Text(f"  - {reason}", style="red") for reason in node.reasons]
        if node.differs_from_driver:
            lines.append(
                Text(
                    f"! node {node.node} differs from the driver: "
                    + "; ".join(node.differs_from_driver),
                    style="yellow",
                )
            )
    return lines
