"""`client.nodes` from a Ray run's workers, without a cluster: workers grouped by node, each
node's watch pooled over its own workers only (a lagging node is saturated, the other not), its
environment and how it differs from the driver's, a lost worker counted on its node."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from llmbench.monitor.client_health import WorkerHealth
from llmbench.monitor.environment import capture_environment
from llmbench.run.workers.nodes import node_health
from llmbench.store.node_schema import NodeHealth


def raw(lag_ms: list[float], cpu: list[float]) -> dict[str, Any]:
    return {
        "lag_ns": [int(x * 1e6) for x in lag_ms],
        "cpu_fraction": cpu,
        "cpu_window_s": 0.5,
    }


def entry(worker_id: int, node: str | None, env: dict[str, Any] | None, **over: Any) -> Any:
    return {"worker_id": worker_id, "lost": False, "cpu_s": 1.5, "node": node,
            "environment": env, **over}  # fmt: skip


def test_each_node_pools_only_its_own_workers_watch() -> None:
    env = capture_environment()
    other = {**env, "python": {**env["python"], "version": "3.99.0"},
             "packages": {**env["packages"], "aiohttp": "0.0.1"}}  # fmt: skip
    busy = [0.5] * 150 + [9.0] * 10  # P99 over 160 samples: 9 ms, past the 2 ms limit
    health = [
        WorkerHealth(0, 10, raw([0.2] * 120, [0.2, 0.4])),
        WorkerHealth(1, 11, raw([0.3] * 120, [0.1, 0.3])),
        WorkerHealth(2, 12, raw(busy, [0.5, 0.6])),
        WorkerHealth(3, 13, None),  # died
    ]
    per_worker = [
        entry(0, "a (node 1)", env),
        entry(1, "a (node 1)", env),
        entry(2, "b (node 2)", other),
        entry(3, "b (node 2)", None, lost=True, cpu_s=None),
    ]
    nodes = [NodeHealth.model_validate(n) for n in node_health(health, per_worker) or []]
    a, b = nodes
    assert (a.node, a.workers, a.lost) == ("a (node 1)", [0, 1], [])
    assert (b.node, b.workers, b.lost) == ("b (node 2)", [2, 3], [3])
    assert not a.saturated
    assert a.reasons == []
    assert a.loop_lag_n == 240
    assert a.loop_lag_ms_max == 0.3
    assert b.saturated
    assert b.reasons[0].startswith("worker 2 (pid 12): event-loop lag P99 9.00 ms")
    assert b.loop_lag_n == 160
    assert b.loop_lag_ms_p99 == float(np.percentile(np.asarray(busy), 99))
    assert a.cpu_s == 3.0  # two workers' CPU seconds
    assert b.cpu_s == 1.5  # the lost one told none
    assert a.cpu_mean_cores == pytest.approx(0.3 + 0.2)  # each worker's mean fraction, summed
    assert a.cpu_max_fraction == 0.4  # the busiest worker's peak
    assert a.hostname == env["host"]["hostname"]
    assert a.differs_from_driver == []
    assert b.python == "3.99.0"
    assert b.differs_from_driver == [
        f"Python 3.99.0 (driver {env['python']['version']})",
        f"aiohttp 0.0.1 (driver {env['packages']['aiohttp']})",
    ]


def test_workers_on_this_host_have_no_nodes() -> None:
    health = [WorkerHealth(0, 10, raw([0.1] * 20, [0.1]))]
    assert node_health(health, [entry(0, None, None)]) is None
