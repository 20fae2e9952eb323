"""Where `sent` falls for request bodies of growing size: against the simulator, one request at
a time, the client's `sent` (aiohttp's request-chunk-sent signal) is compared with the server's
log of the same request (one CLOCK_MONOTONIC): when its first byte arrived (`received_ns`) and
when its body had arrived in full (`body_ns`). Prints medians and maxima per body size.

    python benchmarks/send_stamp.py [--repeats 20] [--sizes-kib 1,64,256,1024,4096]
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any
from urllib.request import urlopen

import numpy as np

from llmbench.clients.openai import OpenAIClient
from llmbench.config import SimSpec
from llmbench.records import RequestRecord, RequestSpec, SendContext
from llmbench.run.target import EmbeddedSim

MS = 1e6
TTFT_MS = 50.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--sizes-kib", default="1,64,256,1024,4096")
    return parser.parse_args()


async def send_all(url: str, size: int, repeats: int) -> list[RequestRecord]:
    """`repeats` requests with a `size`-byte prompt, one at a time on one kept-alive connection."""
    spec = RequestSpec(item_id="i", prompt="x" * size, max_tokens=4)
    async with OpenAIClient(base_url=url, model="llmbench-sim", connection_limit=1) as client:
        await client.open_connections(1)
        return [
            await client.send(spec, SendContext(f"s{size}-{k}", "t", 0, scheduled_ns=0))
            for k in range(repeats)
        ]


def measure(url: str, size: int, repeats: int) -> dict[str, list[float]]:
    """Per request: first byte in − sent, whole body in − sent, client TTFT − server TTFT."""
    rows: dict[str, list[float]] = {"first_byte": [], "last_byte": [], "ttft_extra": []}
    for record in asyncio.run(send_all(url, size, repeats)):
        if not record.ok or record.first_token_ns is None:
            raise SystemExit(f"request {record.request_id} failed: {record.error}")
        with urlopen(f"{url}/sim/log/{record.request_id}", timeout=10) as resp:
            log: dict[str, Any] = json.loads(resp.read())
        rows["first_byte"].append((log["received_ns"] - record.sent_ns) / MS)
        rows["last_byte"].append((log["body_ns"] - record.sent_ns) / MS)
        server_ttft = log["chunk_emit_ns"][0] - log["received_ns"]
        rows["ttft_extra"].append((record.first_token_ns - record.sent_ns - server_ttft) / MS)
    return rows


def main() -> None:
    args = parse_args()
    sim = EmbeddedSim(SimSpec(ttft_ms=TTFT_MS, itl_ms=5.0))
    url = sim.start()
    try:
        print(f"{'body':>9}  {'first byte in − sent':>22}  {'last byte in − sent':>22}"
              f"  {'client − server TTFT':>22}   (ms: median / max of {args.repeats})")  # fmt: skip
        for kib in (int(s) for s in args.sizes_kib.split(",")):
            rows = measure(url, kib * 1024, args.repeats)
            cells = [f"{np.median(v):9.3f} / {max(v):9.3f}" for v in rows.values()]
            print(f"{kib:>5} KiB  " + "  ".join(f"{c:>22}" for c in cells))
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
