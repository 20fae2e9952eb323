"""A small comparison study.json built in code: the golden file's source
(`python -m tests.support.comparison` rewrites tests/golden/comparison-v2/study.json)."""

from __future__ import annotations

import sys
from pathlib import Path

from llmbench.config.study_file import StudyFile
from llmbench.store.codec import to_json
from llmbench.store.study_schema import (
    Brief,
    ComparisonIndex,
    ComparisonRun,
    ComparisonScenario,
    ComparisonTarget,
    RunHeadline,
)

GOLDEN = Path(__file__).parents[1] / "golden" / "comparison-v2" / "study.json"
TARGETS = ("self-hosted", "cloud")


def _headline() -> RunHeadline:
    b = Brief(n=2, mean=100.0, p5=90.5, p50=100.0, p95=109.5, p99=109.9, min=90.0, max=110.0)
    return RunHeadline(
        ok=2, errors=0, error_rate=0.0, requests_per_s=5.0, output_tokens_per_s=320.0,
        ttft_ms=b, e2e_ms=b, itl_ms=b, request_output_tokens_per_s=b,
    )  # fmt: skip


def _runs() -> list[ComparisonRun]:
    plan = [("baseline", "round", None, t) for t in TARGETS]
    plan += [("concurrency", f"c{c}", float(c), t) for c in (1, 2) for t in reversed(TARGETS)]
    runs = []
    for order, (scenario, step, value, target) in enumerate(plan, start=1):
        done = scenario == "baseline"
        runs.append(
            ComparisonRun(
                order=order, target=target, scenario=scenario, step=step, value=value, repeat=1,
                dir=f"{order:03d}-{target}-{scenario}-{step}",
                workload_hash="0123456789abcdef" if done else "fedcba9876543210",
                status="complete" if done else ("failed" if order == 3 else "pending"),
                **({"run_id": f"run-{order}", "headline": _headline()} if done else {}),
            )
        )  # fmt: skip
    return runs


def example_index() -> ComparisonIndex:
    spec = StudyFile.model_validate(
        {
            "name": "demo",
            "targets": {
                "self-hosted": "sim:self-hosted-cold",
                "cloud": {"base_url": "https://api.example.com/v1", "kind": "openai",
                          "model": "m", "api_key_env": "CLOUD_KEY"},
            },
            "scenarios": {"baseline": {"requests": 2}, "concurrency": {"levels": [1, 2]}},
        }
    )  # fmt: skip
    return ComparisonIndex(
        kind="comparison", name="demo", status="interrupted", spec=spec,
        spec_hash="00112233aabbccdd", environment=None, started_at="2026-12-02T20:00:00Z",
        finished_at=None,
        targets=[
            ComparisonTarget(name="self-hosted", kind="sim", preset="self-hosted-cold",
                             base_url="http://127.0.0.1:40001/v1", model="llmbench-sim"),
            ComparisonTarget(name="cloud", kind="openai", base_url="https://api.example.com/v1",
                             model="m", preset=None),
        ],
        scenarios=[
            ComparisonScenario(name="baseline", kind="baseline", over=None, steps=["round"],
                               values=[None], targets=list(TARGETS)),
            ComparisonScenario(name="concurrency", kind="concurrency", over="concurrency",
                               steps=["c1", "c2"], values=[1.0, 2.0], targets=list(TARGETS)),
        ],
        runs=_runs(),
        skipped=[],
    )  # fmt: skip


if __name__ == "__main__":
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(to_json(example_index()), encoding="utf-8")
    sys.exit(0)
