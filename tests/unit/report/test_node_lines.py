"""The terminal's per-node lines of a Ray run: a quiet node dim on one line, a saturated one
red with its reasons, a node whose versions are not the driver's flagged in yellow."""

from __future__ import annotations

from typing import Any

from llmbench.report.nodes import lines_of
from llmbench.store.node_schema import NodeHealth


def node(**over: Any) -> NodeHealth:
    data: dict[str, Any] = {
        "node": "h1 (node abc)", "workers": [0, 2], "lost": [], "hostname": "h1",
        "os": "Linux", "cpu_model": "Xeon", "cpu_logical": 8, "python": "3.11.7",
        "llmbench": "0.1.0", "differs_from_driver": [], "saturated": False, "reasons": [],
        "timestamp_delay_ms": 0.1, "loop_lag_n": 300, "loop_lag_ms_p99": 0.5,
        "loop_lag_ms_max": 1.25, "cpu_s": 3.5, "cpu_mean_cores": 0.75, "cpu_max_fraction": 0.5,
    }  # fmt: skip
    return NodeHealth.model_validate({**data, **over})


def test_a_quiet_node_is_one_dim_line() -> None:
    (line,) = lines_of([node()])
    assert line.plain == (
        "node h1 (node abc): workers 0, 2; h1, Xeon, 8 CPUs, Python 3.11.7, llmbench 0.1.0; "
        "loop lag P99 0.50 ms, max 1.25 ms; CPU 3.50 s, mean 0.75 cores; not saturated"
    )
    assert line.style == "dim"


def test_a_saturated_or_different_node_says_why() -> None:
    reason = "worker 2 (pid 9): event-loop lag P99 9.00 ms > 2.0 ms"
    lines = lines_of([
        node(saturated=True, reasons=[reason], lost=[2], loop_lag_ms_p99=None),
        node(node="h2 (node def)", differs_from_driver=["aiohttp 3.9.5 (driver 3.10.1)"]),
    ])  # fmt: skip
    assert [line.style for line in lines] == ["red", "red", "dim", "yellow"]
    assert "workers 0, 2 (2 lost);" in lines[0].plain
    assert "loop lag P99 –, max 1.25 ms; " in lines[0].plain
    assert lines[0].plain.endswith("; saturated")
    assert lines[1].plain == f"  - {reason}"
    assert lines[3].plain == (
        "! node h2 (node def) differs from the driver: aiohttp 3.9.5 (driver 3.10.1)"
    )
