"""Agent-service tasks: how far polling and webhooks put a task's end from the simulator's
ground truth (/sim/task-log/<id>), and whether the interval-corrected estimate helps. Tasks of
the simulator's task face are followed by polling every `--interval-ms` and by webhooks
together; for each task: the poll's sighting − truth, the corrected estimate (middle of the
poll interval) − truth, the webhook's arrival − truth. Prints the median and max of each.

    python benchmarks/task_polling.py [--tasks 40] [--interval-ms 200] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import socket
import statistics
import urllib.request

from llmbench.clients.taskapi_spec import MANUS
from llmbench.config import SimSpec
from llmbench.config.task_api import TaskApiSettings
from llmbench.run.target import EmbeddedSim
from llmbench.run.taskapi import Pacing, TaskApiDriver
from llmbench.tasks import TaskRecord

MS = 1e6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(base: str, args: argparse.Namespace) -> list[TaskRecord]:
    port = _free_port()
    settings = TaskApiSettings(
        poll_interval_ms=args.interval_ms, poll_jitter=0.1, task_timeout_s=60,
        webhook_listen=f"127.0.0.1:{port}", webhook_public_url=f"http://127.0.0.1:{port}/h",
    )  # fmt: skip
    records: list[TaskRecord] = []
    prompts = itertools.cycle(["one two three four"])
    pacing = Pacing(tasks=args.tasks, concurrency=args.concurrency)
    driver = TaskApiDriver(base, MANUS, settings, pacing, prompts, None)
    # The webhook ends a task's polling early; polling alone is measured in a second pass.
    asyncio.run(driver.run(None, target_id="sim", sink=print, task_sink=records.append, stop=None))  # type: ignore[arg-type]
    return records


def _poll_only(base: str, args: argparse.Namespace) -> list[TaskRecord]:
    settings = TaskApiSettings(poll_interval_ms=args.interval_ms, poll_jitter=0.1)
    records: list[TaskRecord] = []
    pacing = Pacing(tasks=args.tasks, concurrency=args.concurrency)
    driver = TaskApiDriver(base, MANUS, settings, pacing, itertools.cycle(["a b c"]), None)
    asyncio.run(driver.run(None, target_id="sim", sink=print, task_sink=records.append, stop=None))  # type: ignore[arg-type]
    return records


def _truth(base: str, provider_id: str) -> int:
    with urllib.request.urlopen(f"{base}/sim/task-log/{provider_id}") as response:
        return int(json.loads(response.read())["stopped_ns"])


def _line(name: str, values: list[float]) -> str:
    if not values:
        return f"{name:<34} n=0"
    med, top = statistics.median(values), max(values, key=abs)
    return f"{name:<34} n={len(values):<4} median {med:8.2f} ms   worst {top:8.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=40)
    parser.add_argument("--interval-ms", type=float, default=200.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    options = "steps:3,tokens:16,tool_ms:37"
    sim = EmbeddedSim(SimSpec(ttft_ms=50, itl_ms=7, task_options=options))
    base = sim.start()
    raw: list[float] = []
    corrected: list[float] = []
    webhook: list[float] = []
    try:
        hooked = _run(base, args)
        polled = _poll_only(base, args)
        for record in polled:
            if record.provider_task_id is None or record.ended_ns is None:
                continue
            truth = _truth(base, record.provider_task_id)
            raw.append((record.ended_ns - truth) / MS)
            if record.completion_corrected_ns is not None:
                estimate = record.submitted_ns + record.completion_corrected_ns
                corrected.append((estimate - truth) / MS)
        for record in hooked:
            if record.ended_webhook_ns is not None and record.provider_task_id:
                truth = _truth(base, record.provider_task_id)
                webhook.append((record.ended_webhook_ns - truth) / MS)
    finally:
        sim.stop()
    print(f"task ends vs the simulator's log; poll interval {args.interval_ms} ms ± 10 %")
    print(_line("polling, raw (sighting − truth)", raw))
    print(_line("polling, corrected (mid − truth)", corrected))
    print(_line("webhook (arrival − truth)", webhook))


if __name__ == "__main__":
    main()
