"""The plan of a comparison study: every scenario step against every target with the same
prompts, other prompts for every other block, interleaved (targets rotated) or seeded-random,
and the same plan every time the same spec is planned (what resume relies on)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from llmbench.config import ClosedLoad, OpenLoad
from llmbench.config.study_file import StudyFile
from llmbench.errors import ConfigError
from llmbench.study.plan import PlannedRun, plan_study


def study(**over: Any) -> StudyFile:
    data: dict[str, Any] = {
        "targets": {"a": "sim:self-hosted-cold", "b": "sim:cloud-warm", "c": "http://h:8000/v1"},
        "scenarios": {
            "baseline": {"requests": 5},
            "concurrency": {"levels": [1, 4], "requests": 2, "per_stream": 3},
            "input-length": {"lengths": [64, 256]},
            "rate": {"rates": [2, 8], "requests": 10},
        },
        "workload": {"input_tokens": 100, "output_tokens": 8, "seed": 7},
    }
    return StudyFile.model_validate({**data, **over})


def key(run: PlannedRun) -> tuple[str, str, str, int]:
    return (run.target, run.scenario, run.step.label, run.repeat)


def test_every_step_runs_against_every_target_with_the_same_prompts() -> None:
    runs = plan_study(study()).runs
    assert len(runs) == 3 * (1 + 2 + 2 + 2)
    assert len({key(r) for r in runs}) == len(runs)
    assert len({r.dir for r in runs}) == len(runs)
    blocks: dict[tuple[str, str], list[PlannedRun]] = defaultdict(list)
    for run in runs:
        blocks[(run.scenario, run.step.label)].append(run)
    prompt_sets = set()
    for members in blocks.values():
        assert sorted(r.target for r in members) == ["a", "b", "c"]
        assert len({r.workload_hash for r in members}) == 1  # identical workload bytes and load
        assert len({r.spec.workload for r in members}) == 1
        assert members[0].spec.workload.seed == 7
        prompt_sets.add(members[0].spec.workload.prompt_set)
    assert len(prompt_sets) == len(blocks)  # no block resends another's prompts


def test_interleaved_runs_block_by_block_and_rotates_who_goes_first() -> None:
    runs = plan_study(study()).runs
    firsts = [runs[i].target for i in range(0, len(runs), 3)]
    assert firsts[:4] == ["a", "b", "c", "a"]
    for i in range(0, len(runs), 3):  # a block's runs are adjacent: drift hits all alike
        assert len({(r.scenario, r.step.label) for r in runs[i : i + 3]}) == 1
    assert [r.order for r in runs] == list(range(1, len(runs) + 1))


def test_random_order_is_the_same_runs_shuffled_by_the_seed() -> None:
    ordered = plan_study(study()).runs
    shuffled = plan_study(study(order="random", seed=3)).runs
    again = plan_study(study(order="random", seed=3)).runs
    other = plan_study(study(order="random", seed=4)).runs
    assert {key(r) for r in shuffled} == {key(r) for r in ordered}
    assert [key(r) for r in shuffled] == [key(r) for r in again]
    assert [key(r) for r in shuffled] != [key(r) for r in other]
    assert [key(r) for r in shuffled] != [key(r) for r in ordered]


def test_repeats_repeat_the_whole_sequence_with_fresh_prompts() -> None:
    runs = plan_study(study(repeats=2)).runs
    half = len(runs) // 2
    assert {r.repeat for r in runs[:half]} == {1}
    assert {r.repeat for r in runs[half:]} == {2}
    assert runs[half].dir.endswith("-r2")
    first = {r.spec.workload.prompt_set for r in runs[:half]}
    assert first.isdisjoint({r.spec.workload.prompt_set for r in runs[half:]})


def test_steps_make_the_loads_the_scenarios_say() -> None:
    runs = {key(r): r for r in plan_study(study()).runs}
    baseline = runs[("a", "baseline", "rounds", 1)].spec.load
    assert baseline == ClosedLoad(concurrency=1, requests=5)
    c4 = runs[("a", "concurrency", "c4", 1)].spec.load
    assert isinstance(c4, ClosedLoad)
    assert (c4.concurrency, c4.requests) == (4, 12)  # per_stream × level
    assert runs[("b", "input-length", "in256", 1)].spec.workload.input_tokens == 256
    rate = runs[("c", "rate", "rate-8", 1)].spec.load
    assert isinstance(rate, OpenLoad)
    assert (rate.rate, rate.arrival, rate.requests) == (8.0, "poisson", 10)


def test_targets_become_embedded_simulators_or_endpoints() -> None:
    runs = {key(r): r for r in plan_study(study()).runs}
    sim = runs[("a", "baseline", "rounds", 1)].spec
    assert sim.target.base_url is None
    assert sim.sim.preset == "self-hosted-cold"
    assert sim.name == "a"
    endpoint = runs[("c", "baseline", "rounds", 1)].spec
    assert endpoint.target.base_url == "http://h:8000/v1"
    assert endpoint.target.engine is None  # detected when a run needs it


def test_an_endpoint_target_names_its_engine_for_every_run() -> None:
    # transformers serve is not detectable; `--force-length` needs it named (docs/engines.md)
    targets = {"t": {"base_url": "http://h:8000/v1", "engine": "transformers"}}
    workload = {"input_tokens": 100, "output_tokens": 8, "force_length": True}
    runs = plan_study(study(targets=targets, workload=workload)).runs
    assert runs
    assert {r.spec.target.engine for r in runs} == {"transformers"}


def test_a_target_without_an_engine_hashes_as_before_the_field() -> None:
    # study.json files written before `engine` existed must resume: same dump, same hash
    targets = {"t": {"base_url": "http://h:8000/v1"}}
    dumped = study(targets=targets).model_dump(mode="json")["targets"]["t"]
    assert "engine" not in dumped
    named = {"t": {"base_url": "http://h:8000/v1", "engine": "vllm"}}
    assert study(targets=named).model_dump(mode="json")["targets"]["t"]["engine"] == "vllm"
    assert study(targets=named).spec_hash() != study(targets=targets).spec_hash()


def test_a_step_that_makes_no_valid_run_is_refused_before_anything_runs() -> None:
    bad = study(workload={"input_tokens": 100, "prefix_tokens": 80})
    with pytest.raises(ConfigError, match=r"scenarios\.input-length step in64.*prefix"):
        plan_study(bad)
