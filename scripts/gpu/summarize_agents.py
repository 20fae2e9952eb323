"""The numbers docs/real-engines.md cites from scripts/gpu_validation.sh's STAGE=agents results:
per request index within its task or session (the agent loop's step, a session's turn) the
requests, TTFT mean and P50, E2E mean, prompt tokens as the server counted them (usage), payload
bytes and images; per run the agent loop's task outcome and the GPU's telemetry. Warm-up
requests are left out, as in llmbench's own statistics. Writes a small JSON and prints Markdown.

    python3 scripts/gpu/summarize_agents.py RESULTS_DIR OUT.json
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

from summarize import cell, run_row


def by_index(run_dir: Path) -> list[dict[str, Any]]:
    """Per step (agent loop) or turn (sessions); a run of independent requests is one row."""
    groups: dict[int, list[dict[str, Any]]] = {}
    with (run_dir / "records.jsonl").open() as lines:
        for line in lines:
            record = json.loads(line)
            if record["status"] == "ok" and not record["warmup"]:
                groups.setdefault(record.get("turn") or 0, []).append(record)
    rows = []
    for index, records in sorted(groups.items()):

        def mean_of(field: str, rs: list[dict[str, Any]] = records) -> float | None:
            values = [r[field] for r in rs if r.get(field) is not None]
            return statistics.fmean(values) if values else None

        ttfts = [(r["first_token_ns"] - r["sent_ns"]) / 1e6 for r in records]
        e2es = [(r["end_ns"] - r["sent_ns"]) / 1e6 for r in records]
        rows.append({
            "index": index, "n": len(records), "ttft_mean_ms": statistics.fmean(ttfts),
            "ttft_p50_ms": statistics.median(ttfts), "e2e_mean_ms": statistics.fmean(e2es),
            "prompt_tokens": mean_of("input_tokens"), "output_tokens": mean_of("output_tokens"),
            "payload_bytes": mean_of("payload_bytes"), "images": mean_of("images"),
        })  # fmt: skip
    return rows


def telemetry(run: dict[str, Any]) -> dict[str, Any]:
    gpus = (run.get("monitors") or {}).get("gpu")
    gpu = gpus[0] if isinstance(gpus, list) and gpus else {}

    def stat(name: str, which: str) -> Any:
        return (gpu.get(name) or {}).get(which)

    return {
        "gpu_util_mean": stat("util_percent", "mean"), "gpu_util_max": stat("util_percent", "max"),
        "gpu_memory_max_gib": (stat("memory_used_bytes", "max") or 0) / 2**30 or None,
        "gpu_power_mean_w": stat("power_w", "mean"),
    }  # fmt: skip


def agent_block(run: dict[str, Any]) -> dict[str, Any] | None:
    block = run.get("agent_loop")
    if not block:
        return None
    completion = block.get("task_completion_ms") or {}
    return {"history": block.get("history"), "by_status": block.get("by_status"),
            "task_elapsed_mean_ms": completion.get("mean")}  # fmt: skip


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    results, out = Path(sys.argv[1]), Path(sys.argv[2])
    runs = []
    for path in sorted(results.glob("*/run.json")):
        run = json.loads(path.read_text())
        summary = run_row(path.parent)
        summary.update(telemetry(run))
        runs.append({"summary": summary, "agent_loop": agent_block(run),
                     "by_index": by_index(path.parent)})  # fmt: skip
    runs.sort(key=lambda r: r["summary"]["started_at"])
    out.write_text(json.dumps(runs, indent=1) + "\n")
    columns = ["run", "ok", "ttft_mean_ms", "itl_mean_ms", "e2e_mean_ms", "requests_per_s",
               "server_cpu_percent", "gpu_util_mean", "gpu_util_max", "gpu_memory_max_gib",
               "gpu_power_mean_w"]  # fmt: skip
    print(table([r["summary"] for r in runs], columns) + "\n")
    index_columns = ["index", "n", "ttft_mean_ms", "ttft_p50_ms", "e2e_mean_ms",
                     "prompt_tokens", "output_tokens", "payload_bytes", "images"]  # fmt: skip
    for run in runs:
        name = run["summary"]["run"]
        if run["agent_loop"]:
            print(f"{name}: {json.dumps(run['agent_loop'])}")
        print(f"{name} (index: step of a task, turn of a session)\n")
        print(table(run["by_index"], index_columns) + "\n")


if __name__ == "__main__":
    main()
