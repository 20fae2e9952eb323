"""The benchmark's raw socket client against the simulator as a real process: it must read
every response to its end (the server logs each as complete) and count the bytes it drained.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from urllib.request import urlopen

from .conftest import StartSim

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from raw_stream_client import drain


def test_raw_client_drains_every_response_to_its_end(start_sim: StartSim) -> None:
    base_url = start_sim(ttft_ms=5.0, itl_ms=2.0)
    done = asyncio.run(drain(base_url, concurrency=3, requests=7, output_tokens=6))
    with urlopen(f"{base_url}/sim/log", timeout=10) as response:
        log = json.loads(response.read())["requests"]
    assert done.responses == 7
    assert [e["outcome"] for e in log] == ["complete"] * 7
    assert all(len(e["chunk_emit_ns"]) == 6 for e in log)
    # Each response: headers, a role event, 6 token events and the [DONE] tail, all drained.
    assert done.bytes_read > 7 * 6 * 50
    assert done.cpu_s > 0
    # One connection sends 3 requests in turn, each at least TTFT + 5 ITL = 15 ms long.
    assert 3 * 0.015 <= done.wall_s < 10
