"""Client memory per finished request: the run's records kept in a list (how runs summarized
before) against the column store a run feeds now (`metrics/columns.py`), in one process, without
the network. Records are built one at a time as a run receives them (realistic ids, chunk
arrays), held the one way or the other, then summarized; the two summaries must be equal.

    python benchmarks/client_memory.py [--requests 100000] [--output-tokens 32] [--repeat 3]

Prints bytes per request (tracemalloc: Python's heap, the part that grows per request) and the
summary's wall time, for both.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import tracemalloc
from array import array
from collections.abc import Iterator
from typing import Any

from llmbench.metrics.columns import RunColumns
from llmbench.metrics.summary import summarize_run
from llmbench.records import CountSource, RequestRecord, Status

MS = 1_000_000


def records(n: int, output_tokens: int) -> Iterator[RequestRecord]:
    for i in range(n):
        sent = 10**15 + i * 3 * MS
        offsets = array("q", [20 * MS + k * 2 * MS + (i * 7919 + k * 104729) % 300_000
                              for k in range(output_tokens)])  # fmt: skip
        yield RequestRecord(
            request_id=f"20261201-183500-sim-1a2b-{i}", target_id="sim", item_id=f"syn-{i}",
            worker_id=0, status=Status.OK, scheduled_ns=sent, sent_ns=sent + 50_000,
            headers_ns=sent + MS, first_token_ns=sent + offsets[0],
            first_content_ns=sent + offsets[0], end_ns=sent + offsets[-1] + 200_000,
            chunk_offsets_ns=offsets, chunk_tokens=array("I", [1] * output_tokens),
            chunk_channels=array("B", [0] * output_tokens), input_tokens=32,
            output_tokens=output_tokens, output_tokens_source=CountSource.USAGE,
            usage_output_tokens=output_tokens, requested_output_tokens=output_tokens,
            finish_reason="length", http_status=200,
        )  # fmt: skip


def held(kind: str, n: int, output_tokens: int) -> tuple[float, float, dict[str, Any]]:
    """(bytes per request held, summary seconds, summary) for one way of holding the run."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    store: list[RequestRecord] | RunColumns = [] if kind == "list" else RunColumns()
    for record in records(n, output_tokens):
        store.append(record)
    per_request = (tracemalloc.get_traced_memory()[0] - before) / n
    tracemalloc.stop()
    started = time.perf_counter()
    summary = summarize_run(store, seed=0)
    return per_request, time.perf_counter() - started, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--output-tokens", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=1, help="N runs each; print medians")
    args = parser.parse_args()
    kinds = ("list", "columns")
    runs = []
    for _ in range(args.repeat):  # interleaved, so both ways see the same host
        results = {kind: held(kind, args.requests, args.output_tokens) for kind in kinds}
        runs.append(results)
        if json.dumps(results["list"][2]) != json.dumps(results["columns"][2]):
            print("summaries differ")
            raise SystemExit(1)
    print(f"{args.requests:,} requests × {args.output_tokens} output tokens, {args.repeat} run(s)")
    print(f"{'held as':<10} {'B/request':>10} {'summary s (median)':>19}  summary s per run")
    for kind in kinds:
        per_request = statistics.median(run[kind][0] for run in runs)
        seconds = [run[kind][1] for run in runs]
        each = " / ".join(f"{s:.2f}" for s in seconds)
        print(f"{kind:<10} {per_request:>10.0f} {statistics.median(seconds):>19.2f}  {each}")
    print("summaries equal: True")


if __name__ == "__main__":
    main()
