"""Peak memory of the summary at the end of a large run: a `RunColumns` of N requests × T tokens
(rows of the realistic records of client_memory.py, each with its own id), then
`summarize_run` over it, measuring how far the process's peak RSS rises above its RSS before the
summary (the transient the summary adds on top of what the run already holds).

    python benchmarks/summary_memory.py [--requests 1000000] [--output-tokens 32]
        [--write-summary FILE]

Prints the column store's RSS, the summary's transient peak and its wall time; with
--write-summary, the summary as JSON (to check that two versions give the same numbers).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from dataclasses import replace
from pathlib import Path

import psutil
from client_memory import records  # benchmarks/ on sys.path

from llmbench.metrics.columns import RunColumns, column_row
from llmbench.metrics.summary import summarize_run

_DISTINCT = 1_000  # distinct records; rows repeat them with their own request ids


def _mib(n_bytes: float) -> float:
    return n_bytes / 2**20


def build(n: int, output_tokens: int) -> RunColumns:
    rows = [column_row(r) for r in records(_DISTINCT, output_tokens)]
    columns = RunColumns()
    for i in range(n):
        row = rows[i % _DISTINCT]
        columns.append_row(replace(row, request_id=f"20261201-213000-sim-1a2b-{i}"))
    return columns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--output-tokens", type=int, default=32)
    parser.add_argument("--write-summary", type=Path)
    args = parser.parse_args()
    process = psutil.Process()
    rss_start = process.memory_info().rss
    columns = build(args.requests, args.output_tokens)
    rss_before = process.memory_info().rss
    started = time.perf_counter()
    summary = summarize_run(columns, seed=0)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    gaps = columns.pooled_itl_ns()[0].size
    print(f"{args.requests:,} requests × {args.output_tokens} tokens ({gaps:,} pooled ITL gaps)")
    print(f"column store RSS      {_mib(rss_before - rss_start):>8.0f} MiB")
    print(f"summary peak over it  {_mib(max(peak - rss_before, 0)):>8.0f} MiB")
    print(f"summary wall time     {seconds:>8.1f} s")
    if args.write_summary:
        args.write_summary.write_text(json.dumps(summary, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
