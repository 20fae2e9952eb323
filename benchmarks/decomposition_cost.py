"""Post-run cost of the exact latency decomposition against the embedded simulator: the
simulator rendering `GET /sim/phases` for a full log, the client parsing and indexing it by
request id, and `decompose` joining it with the run's columns. Paid once, after the load (it
never takes time inside the measured window). In-process, no sockets: the transfer over
loopback is not included.

    python benchmarks/decomposition_cost.py [--requests 100000]
"""

from __future__ import annotations

import argparse
import json
import time
from array import array

from llmbench.clients.http import json_loads
from llmbench.metrics.columns import RunColumns
from llmbench.monitor.decomposition import ServerPhases, decompose
from llmbench.monitor.server_metrics import off
from llmbench.records import RequestRecord, Status
from llmbench.sim.server.log import EmissionLog


def filled_log(n: int) -> EmissionLog:
    log = EmissionLog(n)
    for i in range(n):
        entry = log.open(f"r{i}", "/v1/chat/completions", i * 1000)
        entry.queued_ns, entry.admitted_ns, entry.first_token_ns = (
            i * 1000 + 5,
            i * 1000 + 9,
            i * 1000 + 20,
        )
        entry.done_ns, entry.prompt_tokens, entry.cached_tokens = i * 1000 + 50, 100, 0
    return log


def columns(n: int) -> RunColumns:
    out = RunColumns()
    for i in range(n):
        sent = i * 1000
        out.append(
            RequestRecord(
                request_id=f"r{i}", target_id="t", item_id="i", worker_id=0, status=Status.OK,
                scheduled_ns=sent, sent_ns=sent, headers_ns=sent + 2, first_token_ns=sent + 30,
                first_content_ns=sent + 30, end_ns=sent + 60, chunk_offsets_ns=array("q", [30, 60]),
                chunk_tokens=array("I", [1, 1]), chunk_channels=array("B", [0, 0]),
            )
        )  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    n = parser.parse_args().requests
    log, run = filled_log(n), columns(n)
    t0 = time.perf_counter()
    body = json.dumps(log.phases()).encode()  # what aiohttp's json_response does
    t1 = time.perf_counter()
    data = json_loads(body)
    at = {name: k for k, name in enumerate(data["fields"])}
    keys = [at[k] for k in ("request_id", "queued_ns", "admitted_ns", "first_token_ns")]
    phases = {
        r[keys[0]]: ServerPhases(r[keys[1]], r[keys[2]], r[keys[3]]) for r in data["requests"]
    }
    t2 = time.perf_counter()
    block = decompose(run, off("x", "x"), phases, "log")
    t3 = time.perf_counter()
    assert block.split == "exact"
    print(f"requests {n}, /sim/phases body {len(body) / 1e6:.1f} MB")
    print(f"simulator renders it  {t1 - t0:.3f} s")
    print(f"client parses + index {t2 - t1:.3f} s")
    print(f"decompose             {t3 - t2:.3f} s")
    print(f"total                 {t3 - t0:.3f} s")


if __name__ == "__main__":
    main()
