"""Version-1 specs (flat `load.profile`) as today's main stored them in run.json and study.json
(tests/golden/specs-v1.json: `llmbench run` of commit 9e5cf49, one run or study per profile,
made by tests/golden/specs-v1.sh) become version-2 specs that mean the same load."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

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
    upgrade_spec_v1,
)

GOLDEN = Path(__file__).parents[2] / "golden"
SPECS: dict[str, dict[str, Any]] = json.loads((GOLDEN / "specs-v1.json").read_text())


def _upgraded(name: str) -> RunSpec:
    return RunSpec.model_validate(upgrade_spec_v1(SPECS[name]))


def test_every_stored_v1_spec_upgrades_and_validates() -> None:
    for name, v1 in SPECS.items():
        before = copy.deepcopy(v1)
        v2 = upgrade_spec_v1(v1)
        assert v1 == before, name  # pure: the input is left alone
        assert "profile" not in v2["load"], name
        spec = RunSpec.model_validate(v2)
        assert spec == RunSpec.model_validate(v1), name  # the model reads v1 through it too
        assert upgrade_spec_v1(spec.model_dump(mode="json")) == spec.model_dump(mode="json")


def test_single_run_profiles_keep_their_meaning() -> None:
    concurrency = _upgraded("concurrency")
    assert concurrency.load == ClosedLoad(concurrency=2, requests=4, warmup=1)
    assert concurrency.study is None
    assert _upgraded("synchronous").load == ClosedLoad(concurrency=1, requests=2)
    gamma = _upgraded("gamma").load
    assert gamma == OpenLoad(arrival="gamma", rate=50, burstiness=0.5, max_concurrency=3,
                             requests=4)  # fmt: skip
    assert _upgraded("gamma").slo is not None
    ramp = _upgraded("ramp").load
    assert ramp == RampLoad(rate=50, start_rate=5, duration_s=0.3)
    streams = _upgraded("ramp-streams").load
    assert streams == RampLoad(concurrency=3, duration_s=0.3)
    replay = _upgraded("replay").load
    assert replay == ReplayLoad(trace="trace.jsonl", time_scale=0.5)


def test_study_profiles_become_studies() -> None:
    sweep = _upgraded("sweep")
    assert sweep.load == ClosedLoad(concurrency=2, requests=2)
    assert sweep.study == SweepStudy(steps=1, max_concurrency=2)
    csweep = _upgraded("csweep")
    assert csweep.study == ConcurrencySweepStudy(concurrencies=(1, 2), cooldown_s=0.1)
    isweep = _upgraded("isweep")
    assert isweep.study == InputSweepStudy(input_lengths=(8, 16))
    assert (isweep.workload.input_tokens, isweep.workload.prefix_tokens) == (8, 4)
    repeat = _upgraded("repeat")
    assert repeat.study == RepeatStudy(count=2)
    assert repeat.load == OpenLoad(arrival="constant", rate=40, requests=3)
    slo = _upgraded("slo")
    assert slo.study == SloSearchStudy()
    assert isinstance(slo.load, ClosedLoad)  # --search concurrency
    step = _upgraded("sweep-step-rate")  # a study's step: a plain open loop
    assert isinstance(step.load, OpenLoad)
    assert (step.load.arrival, step.load.max_concurrency, step.study) == ("constant", 2, None)


def test_a_stored_run_json_spec_upgrades() -> None:
    run = json.loads((GOLDEN / "run-v1" / "run.json").read_text())
    spec = RunSpec.model_validate(upgrade_spec_v1(run["spec"]))
    assert isinstance(spec.load, OpenLoad)
    assert spec.load.arrival == "gamma"
    # The hash is of the version-2 form: a stored v1 hash does not carry over.
    assert spec.spec_hash() != run["spec_hash"]


@pytest.mark.parametrize(
    ("load", "message"),
    [
        ({"profile": "bogus", "requests": 1}, "load.profile 'bogus' is not one of"),
        ({"profile": "synchronous", "concurrency": 3, "requests": 1}, "concurrency 1"),
        ({"profile": "concurrency", "rate": 5.0, "requests": 1}, "load.closed.rate"),
        ({"profile": "replay", "ramp_start_rate": 2.0, "trace": "t"}, "start_rate"),
    ],
)
def test_a_v1_load_that_v1_refused_is_still_refused(load: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RunSpec.model_validate({"load": load})
