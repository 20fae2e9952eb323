"""The numbers docs/real-engines.md cites, from scripts/gpu_validation.sh's results directory:
per llmbench run (in the order they ran) its start time since the first run, requests, TTFT / ITL
/ E2E mean, P50 and P95, throughput, the monitors' server-process CPU and GPU utilisation, and
llmbench's own event-loop lag (how late its timestamps could be).
Writes a small JSON (no per-request records) and prints a Markdown table.

    python3 scripts/gpu/summarize.py RESULTS_DIR OUT.json
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any


def run_row(run_dir: Path) -> dict[str, Any]:
    run = json.loads((run_dir / "run.json").read_text())
    summary, monitors = run["summary"], run.get("monitors") or {}
    row: dict[str, Any] = {"run": run_dir.name, "started_at": run["started_at"]}
    row["ok"] = run["counts"]["ok"]
    for metric in ("ttft", "itl", "e2e"):
        stats = summary.get(f"{metric}_ms") or {}
        for stat in ("mean", "p50", "p95"):
            row[f"{metric}_{stat}_ms"] = stats.get(stat)
    row["requests_per_s"] = run["counts"]["ok"] / run["engine"]["measured"]["duration_s"]
    row["server_cpu_percent"] = ((monitors.get("target") or {}).get("cpu_percent") or {}).get(
        "mean"
    )
    gpus = monitors.get("gpu")  # a list of GPUs, or "none" where NVML found none
    gpu = gpus[0] if isinstance(gpus, list) and gpus else {}
    row["gpu_util_percent"] = (gpu.get("util_percent") or {}).get("mean")
    lag = (run.get("client") or {}).get("loop_lag_ms") or {}
    row["loop_lag_p99_ms"], row["loop_lag_max_ms"] = lag.get("p99"), lag.get("max")
    return row


def cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}" if value < 10 else f"{value:.1f}"
    return str(value)


def main() -> None:
    results, out = Path(sys.argv[1]), Path(sys.argv[2])
    rows = sorted(
        (run_row(d.parent) for d in results.rglob("run.json")), key=lambda r: r["started_at"]
    )
    first = datetime.fromisoformat(rows[0]["started_at"])
    for row in rows:
        row["t_s"] = (datetime.fromisoformat(row["started_at"]) - first).total_seconds()
    out.write_text(json.dumps(rows, indent=1) + "\n")
    columns = ["run", "t_s", "ok", "ttft_mean_ms", "ttft_p95_ms", "itl_mean_ms", "itl_p95_ms",
               "e2e_mean_ms", "e2e_p95_ms", "requests_per_s", "server_cpu_percent",
               "gpu_util_percent", "loop_lag_p99_ms", "loop_lag_max_ms"]  # fmt: skip
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(cell(row[c]) for c in columns) + " |")


if __name__ == "__main__":
    main()
