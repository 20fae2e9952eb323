"""A minimal, independent streaming client: the reference llmbench is checked against.

It shares no measuring code with llmbench: the OpenAI Python SDK (httpx underneath, its own SSE
parser) sends each request and this script stamps `time.perf_counter()` around it. The prompts
are llmbench's synthetic ones (same seed, same lengths), so both tools send the same load.
Closed loop: `--concurrency` streams, each sending its next request when the last one ends.

Definitions as in llmbench's docs/metrics.md: TTFT is the first chunk with text; ITL the gaps
between consecutive chunks with text, pooled over requests; E2E the end of the stream.

    python3 scripts/gpu/reference_client.py --base-url URL --model M --concurrency 4 \
        --requests 16 --input-tokens 128 --output-tokens 32 --out ref.json
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import time
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI

from llmbench.workload.synthetic import synthetic_requests

FORCE_LENGTH = {"generation_config": json.dumps({"eos_token_id": -1})}


async def one(client: AsyncOpenAI, model: str, prompt: str, max_tokens: int) -> dict[str, Any]:
    sent_ns = time.monotonic_ns()  # llmbench's clock: paired runs are lined up in time by it
    sent = time.perf_counter()
    stream = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens,
        stream=True, stream_options={"include_usage": True}, extra_body=FORCE_LENGTH,
    )  # fmt: skip
    arrivals: list[float] = []
    usage = None
    async for chunk in stream:
        now = time.perf_counter()
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(now)
        if chunk.usage is not None:
            usage = chunk.usage.completion_tokens
    end = time.perf_counter()
    return {
        "ttft_ms": (arrivals[0] - sent) * 1e3 if arrivals else None,
        "gaps_ms": [(b - a) * 1e3 for a, b in itertools.pairwise(arrivals)],
        "e2e_ms": (end - sent) * 1e3,
        "sent_ns": sent_ns,
        "end_ns": sent_ns + round((end - sent) * 1e9),
        "chunks": len(arrivals),
        "usage_output_tokens": usage,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    items = synthetic_requests(
        input_tokens=args.input_tokens, output_tokens=args.output_tokens, seed=args.seed
    )
    prompts = [next(items).prompt for _ in range(args.warmup + args.requests)]
    client = AsyncOpenAI(base_url=args.base_url + "/v1", api_key="unused", max_retries=0)
    queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    for index, prompt in enumerate(prompts):
        queue.put_nowait((index, prompt))
    results: dict[int, dict[str, Any]] = {}

    async def stream() -> None:
        while not queue.empty():
            index, prompt = queue.get_nowait()
            results[index] = await one(client, args.model, prompt, args.output_tokens)

    async with asyncio.TaskGroup() as group:
        for _ in range(args.concurrency):
            group.create_task(stream())
    measured = [results[i] for i in range(args.warmup, len(prompts))]
    ttft = [r["ttft_ms"] for r in measured if r["ttft_ms"] is not None]
    gaps = [g for r in measured for g in r["gaps_ms"]]
    return {
        "tool": "reference (openai SDK " + __import__("openai").__version__ + ")",
        "concurrency": args.concurrency,
        "requests": len(measured),
        "ttft_ms_mean": statistics.fmean(ttft),
        "itl_ms_mean": statistics.fmean(gaps),
        "e2e_ms_mean": statistics.fmean(r["e2e_ms"] for r in measured),
        "per_request": measured,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("--input-tokens", type=int, default=128)
    parser.add_argument("--output-tokens", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    Path(args.out).write_text(json.dumps(result))
    print(
        f"reference c={args.concurrency}: TTFT {result['ttft_ms_mean']:.2f} ms, "
        f"ITL {result['itl_ms_mean']:.2f} ms, E2E {result['e2e_ms_mean']:.1f} ms"
    )


if __name__ == "__main__":
    main()
