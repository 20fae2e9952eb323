"""Every `llmbench run` line the README shows parses to the spec it means (flags only, in-process:
the run itself is replaced by a recorder). A README line without an entry here fails, so a new
example cannot slip past its check."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

import llmbench.cli.execution
from llmbench.cli.main import main
from llmbench.config import (
    ClosedLoad,
    ConcurrencySweepStudy,
    InputSweepStudy,
    OpenLoad,
    RampLoad,
    RepeatStudy,
    ReplayLoad,
    RunSpec,
    SloSearchStudy,
    SweepStudy,
)

ROOT = Path(__file__).parents[2]


def readme_run_lines() -> list[str]:
    """`llmbench run ...` commands of README.md, continuation lines joined."""
    text = (ROOT / "README.md").read_text().replace("\\\n", " ")
    return [
        " ".join(line.split())
        for line in text.splitlines()
        if re.match(r"^(\w+=\S+ )?llmbench run ", line.strip())
    ]


def _check(spec: RunSpec, expected: dict[str, Any]) -> None:
    for path, value in expected.items():
        node: Any = spec
        for part in path.split("."):
            node = getattr(node, part)
        assert node == value, (path, node, value)


EXPECTED: dict[str, dict[str, Any]] = {
    "llmbench run --concurrency 8 --requests 100 --warmup 8": {
        "load": ClosedLoad(concurrency=8, requests=100, warmup=8), "study": None,
    },
    "llmbench run --base-url http://127.0.0.1:8000 --model M --concurrency 8 --requests 100 "
    "--output-tokens 128 --force-length": {
        "load": ClosedLoad(concurrency=8, requests=100),
        "target.base_url": "http://127.0.0.1:8000", "target.model": "M",
        "workload.output_tokens": 128, "workload.force_length": True,
    },
    "llmbench run --profile poisson --rate 20 --requests 400 --max-concurrency 64": {
        "load": OpenLoad(arrival="poisson", rate=20, requests=400, max_concurrency=64),
    },
    "llmbench run --profile ramp --rate 40 --duration 30": {
        "load": RampLoad(rate=40, duration_s=30),
    },
    "llmbench run --profile ramp --concurrency 16 --duration 30": {
        "load": RampLoad(concurrency=16, duration_s=30),
    },
    "llmbench run --concurrency 512 --requests 2048 --workers 4": {
        "load": ClosedLoad(concurrency=512, requests=2048, workers=4),
    },
    "llmbench run --concurrency 4096 --requests 20000 --ray HEAD:6379 --ray-workers 16": {
        "load": ClosedLoad(concurrency=4096, requests=20000),
        "ray.address": "HEAD:6379", "ray.workers": 16,
    },
    "llmbench run --profile replay --trace trace.jsonl --time-scale 0.5": {
        "load": ReplayLoad(trace="trace.jsonl", time_scale=0.5),
    },
    "llmbench run --profile constant --rate 10 --requests 200 --slo ttft_ms:500,tpot_ms:50": {
        "load": OpenLoad(arrival="constant", rate=10, requests=200),
        "slo.ttft_ms": 500, "slo.tpot_ms": 50, "slo.attainment": 0.95,
    },
    "llmbench run --profile slo-search --slo ttft_ms:500,tpot_ms:50 --slo-attainment 0.95 "
    "--requests 100": {
        "load": OpenLoad(arrival="poisson", rate=1.0, requests=100),
        "study": SloSearchStudy(), "slo.attainment": 0.95,
    },
    "llmbench run --profile sweep --concurrency 32 --sweep-steps 5 --requests 100": {
        "load": ClosedLoad(concurrency=32, requests=100), "study": SweepStudy(steps=5),
    },
    "llmbench run --profile concurrency-sweep --concurrency 1,2,4,8,16 --requests 64": {
        "load": ClosedLoad(requests=64),
        "study": ConcurrencySweepStudy(concurrencies=(1, 2, 4, 8, 16)),
    },
    "llmbench run --profile input-sweep --input-tokens 128,512,2048 --concurrency 1 "
    "--requests 20": {
        "load": ClosedLoad(concurrency=1, requests=20),
        "study": InputSweepStudy(input_lengths=(128, 512, 2048)),
        "workload.input_tokens": 128,
    },
    "llmbench run --input-tokens 512 --prefix-tokens 256 --requests 20": {
        "load": ClosedLoad(requests=20),
        "workload.input_tokens": 512, "workload.prefix_tokens": 256,
    },
    "llmbench run --sessions 20 --turns 6 --concurrency 4 --think-time-s 2 "
    "--sim-preset cloud-warm": {
        "load": ClosedLoad(concurrency=4, requests=120),  # sessions x turns
        "workload.sessions": 20, "workload.turns": 6, "workload.think_time_s": 2.0,
        "sim.preset": "cloud-warm",
    },
    "llmbench run --dataset builtin:sharegpt --sessions 10 --turns 3 --concurrency 2": {
        "load": ClosedLoad(concurrency=2, requests=30),
        "workload.dataset": "builtin:sharegpt", "workload.sessions": 10, "workload.turns": 3,
    },
    "llmbench run --input-tokens 512 --input-tokens-stddev 128 --output-tokens-stddev 16 "
    "--requests 50": {
        "workload.input_tokens_stddev": 128, "workload.output_tokens_stddev": 16,
    },
    "llmbench run --input-mix 128:0.9,4096:0.1 --output-mix 64:0.8,512:0.2 --concurrency 8 "
    "--requests 100": {
        "workload.input_mix": ((128, 0.9), (4096, 0.1)),
        "workload.output_mix": ((64, 0.8), (512, 0.2)),
        "load": ClosedLoad(concurrency=8, requests=100),
    },
    "llmbench run --profile constant --rate 10 --requests 100 --repeat 5 --cooldown 10": {
        "load": OpenLoad(arrival="constant", rate=10, requests=100),
        "study": RepeatStudy(count=5, cooldown_s=10),
    },
    "llmbench run --images 2 --image-size 1080x2400 --image-format png --requests 20": {
        "workload.images.count": 2, "workload.images.size": "1080x2400",
        "workload.images.format": "png", "load": ClosedLoad(requests=20),
    },
    "llmbench run --agent-loop examples/workloads/phone-agent.yaml --set sim.reply=agent": {
        "agent_loop.source": "examples/workloads/phone-agent.yaml", "agent_loop.tasks": 4,
        "agent_loop.history": "strip_images", "sim.reply": "agent",
    },
    "llmbench run --profile gamma --rate 5 --burstiness 0.5 --requests 100 --set "
    "load.validity.late_after_ms=5": {
        "load.kind": "open", "load.arrival": "gamma", "load.rate": 5, "load.burstiness": 0.5,
        "load.validity.late_after_ms": 5,
    },
    "llmbench run --tasks examples/workloads/fan-out-planner.yaml --task-mode sequential": {
        "tasks.file": "examples/workloads/fan-out-planner.yaml", "tasks.mode": "sequential",
        "tasks.concurrency": 8, "tasks.repeat": 1,
    },
    "LLMBENCH_LOAD__CONCURRENCY=8 llmbench run --spec examples/run-spec.yaml --requests 50": {
        "load.concurrency": 8, "load.requests": 50, "load.warmup": 4, "name": "sim-example",
    },
}  # fmt: skip


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(llmbench.cli.execution, "execute", lambda *a: calls.append(a))
    for name in [n for n in os.environ if n.startswith("LLMBENCH_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(ROOT)
    return calls


def test_every_readme_line_has_an_expected_spec() -> None:
    assert sorted(readme_run_lines()) == sorted(EXPECTED)


@pytest.mark.parametrize("line", sorted(EXPECTED))
def test_readme_line_gives_its_spec(
    line: str, recorded: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    words = shlex.split(line)
    while "=" in words[0]:
        name, _, value = words.pop(0).partition("=")
        monkeypatch.setenv(name, value)
    assert words[:2] == ["llmbench", "run"]
    main(words[1:])
    spec = recorded[-1][0]
    assert isinstance(spec, RunSpec)
    _check(spec, EXPECTED[line])
