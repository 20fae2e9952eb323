"""Per node of a Ray run (`client.nodes`): its workers, its environment as they captured it
there (and how it differs from the driver's), and their saturation watch pooled over the node
the way the run's `client` block pools it over every worker (`merge_reports`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from llmbench.monitor.client_health import WorkerHealth, merge_reports
from llmbench.monitor.environment import capture_environment


def _differences(env: dict[str, Any], driver: dict[str, Any]) -> list[str]:
    """Python, llmbench and package versions that are not the driver's."""
    out = []
    for label, ours, theirs in (
        ("Python", env["python"]["version"], driver["python"]["version"]),
        ("llmbench", env["llmbench"]["version"], driver["llmbench"]["version"]),
    ):
        if ours != theirs:
            out.append(f"{label} {ours} (driver {theirs})")
    packages, driver_packages = env["packages"], driver["packages"]
    for name in sorted(set(packages) | set(driver_packages)):
        ours, theirs = packages.get(name), driver_packages.get(name)
        if ours != theirs:
            out.append(f"{name} {ours or 'absent'} (driver {theirs or 'absent'})")
    return out


def _environment(env: dict[str, Any] | None, driver: dict[str, Any]) -> dict[str, Any]:
    if env is None:  # the worker died before its environment was asked for
        keys = ("hostname", "os", "cpu_model", "cpu_logical", "python", "llmbench")
        return {**dict.fromkeys(keys), "differs_from_driver": []}
    host = env["host"]
    return {
        "hostname": host["hostname"],
        "os": host["os"],
        "cpu_model": host["cpu_model"],
        "cpu_logical": host["cpu_logical"],
        "python": env["python"]["version"],
        "llmbench": env["llmbench"]["version"],
        "differs_from_driver": _differences(env, driver),
    }


def _watch(health: Sequence[WorkerHealth], entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The node's workers' watch pooled, and their CPU."""
    pooled = merge_reports(health, parent={})
    lag = pooled["loop_lag_ms"] or {}
    means = [m for w in pooled["workers"] if (m := w["cpu_mean_fraction"]) is not None]
    cpu_s = [e["cpu_s"] for e in entries if e.get("cpu_s") is not None]
    return {
        "saturated": pooled["saturated"],
        "reasons": pooled["reasons"],
        "timestamp_delay_ms": pooled["timestamp_delay_ms"],
        "loop_lag_n": lag.get("n", 0),
        "loop_lag_ms_p99": lag.get("p99"),
        "loop_lag_ms_max": lag.get("max"),
        "cpu_s": math.fsum(cpu_s) if cpu_s else None,
        "cpu_mean_cores": math.fsum(means) if means else None,
        "cpu_max_fraction": pooled["cpu"]["max_fraction"],
    }


def node_health(
    health: Sequence[WorkerHealth], per_worker: list[dict[str, Any]]
) -> list[dict[str, Any]] | None:
    """`client.nodes`: one entry per node, in the order its first worker was placed; None when
    the workers have no node (processes on this host)."""
    if not any(entry.get("node") for entry in per_worker):
        return None
    by_id = {w.worker_id: w for w in health}
    nodes: dict[str, list[dict[str, Any]]] = {}
    for entry in per_worker:
        nodes.setdefault(entry.get("node") or "unknown", []).append(entry)
    driver = capture_environment()
    out = []
    for node, entries in nodes.items():
        ids = [e["worker_id"] for e in entries]
        # One environment per node: its first worker that told it.
        env = next((e["environment"] for e in entries if e.get("environment")), None)
        out.append({
            "node": node,
            "workers": ids,
            "lost": [e["worker_id"] for e in entries if e["lost"]],
            **_environment(env, driver),
            **_watch([by_id[i] for i in ids if i in by_id], entries),
        })  # fmt: skip
    return out
