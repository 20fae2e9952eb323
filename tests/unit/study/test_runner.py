"""Studies with a fake step runner: per-step directories, the study.json index, sweep rates
taken from the measured steps, repeats with across-run statistics, and the SLO search."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from llmbench.config import RunSpec
from llmbench.store.run_schema import OpenLoopDelivery, RunResult
from llmbench.store.study_index import STUDY_FILE, load_study_index
from llmbench.store.study_schema import StudyIndex
from llmbench.study.runner import is_study, run_study
from support.runs import golden_run


class FakeSteps:
    """Each step 'runs' by writing its directory; throughput grows with the load up to 10/s."""

    def __init__(self) -> None:
        self.specs: list[RunSpec] = []

    async def __call__(self, spec: RunSpec, directory: Path) -> RunResult:
        self.specs.append(spec)
        directory.mkdir(parents=True)  # noqa: ASYNC240 -- a test fake: one quick mkdir
        load = spec.load
        offered = load.rate if load.rate else load.concurrency * 2.0
        done = min(offered, 10.0)
        met = offered <= 6.0
        base = golden_run("open-slo")  # an open loop with objectives: every block a step reads
        assert base.summary
        assert base.validity
        assert base.goodput
        assert isinstance(base.delivery, OpenLoopDelivery)
        ttft = base.summary.ttft_ms.model_copy(update={"p50": 100.0 + offered, "p99": 150.0})
        summary = {"requests_per_s": done, "error_rate": 0.0, "ttft_ms": ttft}
        growth = 1.0 if offered <= 10.0 else 5.0
        return base.model_copy(
            update={
                "status": "complete",
                "summary": base.summary.model_copy(update=summary),
                "validity": base.validity.model_copy(update={"valid": True}),
                "delivery": base.delivery.model_copy(update={"latency_growth": growth}),
                "goodput": base.goodput.model_copy(
                    update={"met": met, "good_fraction": 1.0 if met else 0.5}
                ),
            }
        )


def spec(**load: Any) -> RunSpec:
    fields: dict[str, Any] = {"load": {"requests": 10, **load}}
    if load.get("profile") == "slo-search":
        fields["slo"] = {"ttft_ms": 500}
    return RunSpec.model_validate(fields)


def run(study_spec: RunSpec, tmp_path: Path) -> tuple[StudyIndex, FakeSteps]:
    steps = FakeSteps()
    index = asyncio.run(run_study(study_spec, tmp_path / "study", steps))
    return index, steps


def test_sweep_runs_sync_then_max_then_rates_between(tmp_path: Path) -> None:
    index, steps = run(spec(profile="sweep", concurrency=8, sweep_rates=3), tmp_path)
    # synchronous: 2/s, throughput at c=8: min(16, 10) = 10/s → rates 4, 6, 8
    assert [s.load.profile for s in steps.specs] == ["synchronous", "concurrency"] + [
        "constant"
    ] * 3
    assert [s.load.rate for s in steps.specs[2:]] == pytest.approx([4.0, 6.0, 8.0])
    assert index.status == "complete"
    dirs = sorted(p.name for p in (tmp_path / "study").iterdir() if p.is_dir())
    assert dirs == ["01-synchronous", "02-throughput", "03-rate-4", "04-rate-6", "05-rate-8"]
    stored = json.loads((tmp_path / "study" / STUDY_FILE).read_text())
    assert [row["dir"] for row in stored["steps"]] == dirs
    assert stored["steps"][0]["ttft_p50_ms"] == 102.0
    assert load_study_index(tmp_path / "study") == index
    assert index.sweep is not None
    assert index.sweep.rates == pytest.approx([4.0, 6.0, 8.0])


def test_concurrency_sweep_steps(tmp_path: Path) -> None:
    index, steps = run(spec(profile="concurrency-sweep", concurrencies=(1, 2, 4)), tmp_path)
    assert [s.load.concurrency for s in steps.specs] == [1, 2, 4]
    assert [row.label for row in index.steps] == ["c1", "c2", "c4"]


def test_repeat_reports_across_runs(tmp_path: Path) -> None:
    study = spec(profile="constant", rate=3.0, repeat=3)
    assert is_study(study)
    index, steps = run(study, tmp_path)
    assert len(steps.specs) == 3
    assert all(s.load.repeat == 1 and s.load.rate == 3.0 for s in steps.specs)
    assert index.across_runs is not None
    across = index.across_runs.requests_per_s
    assert across.n == 3
    assert across.mean == 3.0
    assert across.cv == 0.0


def test_slo_search_over_rate_classifies_steps(tmp_path: Path) -> None:
    index, _ = run(spec(profile="slo-search", rate=1.0), tmp_path)
    # 1, 2, 4 stable, 8 misses with flat latency (backlogged), then bisection between 4 and 8
    assert index.search is not None
    assert index.search.best is not None
    assert 6.0 * 0.9 <= index.search.best <= 6.0
    verdicts = {row.rate: row.verdict for row in index.steps}
    assert verdicts[4.0] == "stable"
    assert verdicts[8.0] == "backlogged"
    assert not is_study(spec(profile="constant", rate=1.0))


def test_slo_search_over_concurrency(tmp_path: Path) -> None:
    index, _ = run(spec(profile="slo-search", search="concurrency", concurrency=1), tmp_path)
    assert index.search is not None
    assert index.search.best == 3.0  # 3 streams offer 6/s


def test_input_sweep_runs_one_closed_loop_step_per_length(tmp_path: Path) -> None:
    study = RunSpec.model_validate(
        {
            "workload": {"input_lengths": (128, 512), "prefix_tokens": 64},
            "load": {"profile": "input-sweep", "concurrency": 2, "requests": 4},
        }
    )
    assert is_study(study)
    index, steps = run(study, tmp_path)
    assert [s.workload.input_tokens for s in steps.specs] == [128, 512]
    assert all(s.workload.input_lengths is None for s in steps.specs)
    assert all(s.load.profile == "concurrency" and s.load.concurrency == 2 for s in steps.specs)
    assert all(s.workload.prefix_tokens == 64 for s in steps.specs)
    assert [row.label for row in index.steps] == ["in128", "in512"]
    assert [row.input_tokens for row in index.steps] == [128, 512]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"load": {"profile": "input-sweep", "requests": 4}}, "input-sweep and a list"),
        ({"workload": {"input_lengths": (8, 16)}, "load": {"requests": 4}}, "input-sweep"),
        ({"workload": {"input_tokens": 8, "prefix_tokens": 9}}, "exceeds the input length"),
        (
            {
                "workload": {"input_lengths": (8, 16)},
                "load": {"profile": "input-sweep", "rate": 2.0, "requests": 4},
            },
            "rate does not apply",
        ),
    ],
)
def test_input_sweep_spec_errors(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RunSpec.model_validate(fields)


@pytest.mark.parametrize(
    "study_spec",
    [
        spec(profile="concurrency-sweep", concurrencies=(1, 2, 4)),
        spec(profile="concurrency", concurrency=2, repeat=3),
        spec(profile="sweep", concurrency=8, sweep_rates=2),
    ],
)
def test_each_step_sends_its_own_prompt_set(study_spec: RunSpec, tmp_path: Path) -> None:
    # A step resending an earlier step's prompts would measure a prefix cache, not the load.
    _, steps = run(study_spec, tmp_path)
    assert [s.workload.prompt_set for s in steps.specs] == list(range(len(steps.specs)))
    assert {s.workload.seed for s in steps.specs} == {study_spec.workload.seed}
