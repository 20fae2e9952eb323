"""Image payloads and the phone-agent loop's history policy, on the embedded simulator.

1. Bytes of one generated screenshot per pattern and format (base64 data URL, what a request
   grows by) and the tokens the simulator's rule charges for it.
2. One phone-agent task of `--steps` steps against the simulator's `cloud-warm` twin (prefix
   cache on) playing the agent, once per history policy: per step, prompt tokens, payload,
   cached-token share and TTFT.

    python benchmarks/agent_loop.py [--steps 6] [--size 1080x2400]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time

from llmbench.clients.openai import OpenAIClient
from llmbench.config import SimSpec
from llmbench.config.agent_loop import AgentLoopSpec
from llmbench.config.images import parse_size
from llmbench.metrics.agent_loop import agent_loop_summary
from llmbench.records import RequestRecord
from llmbench.run.agent_loop import AgentLoop
from llmbench.run.target import EmbeddedSim
from llmbench.tasks import TaskRecord
from llmbench.workload.images import generated_url


def payload_table(width: int, height: int) -> None:
    tokens = min(16384, math.ceil(width / 28) * math.ceil(height / 28))
    print(f"one {width}x{height} image: {tokens} prompt tokens by the simulator's rule")
    print(f"{'pattern':8} {'format':6} {'data URL bytes':>15} {'encode ms':>10}")
    for pattern in ("ui", "noise"):
        for fmt in ("png", "jpeg"):
            started = time.perf_counter()
            url = generated_url(width, height, pattern, fmt, "bench/0")  # type: ignore[arg-type]
            took_ms = (time.perf_counter() - started) * 1000
            print(f"{pattern:8} {fmt:6} {len(url):>15,} {took_ms:>10.0f}")


async def one_task(base_url: str, spec: AgentLoopSpec, seed: int) -> list[TaskRecord]:
    records: list[RequestRecord] = []
    tasks: list[TaskRecord] = []
    async with OpenAIClient(base_url=base_url, model="llmbench-sim") as client:
        await AgentLoop(spec, seed=seed).run(
            client, target_id="sim", sink=records.append, task_sink=tasks.append, stop=None
        )
    return tasks


def policy_table(steps: int, size: str) -> None:
    sim = SimSpec(preset="cloud-warm", reply="agent", agent_finish_after=steps)
    with EmbeddedSim(sim) as running:
        for seed, history in enumerate(("strip_images", "keep_images")):
            spec = AgentLoopSpec.model_validate({
                "history": history, "screen_size": size, "max_steps": steps,
                "actuation": {"tap_s": 0.05, "type_s": 0.05, "other_s": 0.05},
            })  # fmt: skip
            # a seed per policy: no screenshot of one run is in the cache for the other
            tasks = asyncio.run(one_task(running.base_url, spec, seed))
            block = agent_loop_summary(tasks, history=history, markers=spec.markers)
            print(f"\nhistory {history}: task {block['task_completion_ms']['mean']:.0f} ms, "
                  f"model share {block['model_share']['mean']:.2f}")  # fmt: skip
            print(f"{'step':>4} {'images':>6} {'prompt tok':>10} {'payload B':>10} "
                  f"{'cached':>7} {'TTFT ms':>8}")  # fmt: skip
            for row in block["per_step"]:
                share = row["cached_share"]
                print(f"{row['step']:>4} {row['images_mean']:>6.0f} "
                      f"{row['prompt_tokens_mean']:>10,.0f} {row['payload_bytes_mean']:>10,.0f} "
                      f"{'-' if share is None else f'{share:.0%}':>7} "
                      f"{row['ttft_ms_p50']:>8.1f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--size", default="1080x2400")
    args = parser.parse_args()
    payload_table(*parse_size(args.size))
    policy_table(args.steps, args.size)


if __name__ == "__main__":
    main()
