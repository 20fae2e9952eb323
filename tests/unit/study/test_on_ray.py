"""A study on Ray (`llmbench study --ray`), without a cluster: which runs go on Ray (agent
workloads stay in one process), the Ray settings in each run's spec but not in its hashes, and
the size of a `--ray local` instance (the study's largest run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from llmbench.config.ray import RaySettings
from llmbench.config.study_file import StudyFile
from llmbench.study.on_ray import plan_ray
from llmbench.study.plan import plan_study


def study(**scenarios: Any) -> StudyFile:
    return StudyFile.model_validate({
        "targets": {"a": "sim:deterministic", "b": "sim:cloud-warm"},
        "workload": {"input_tokens": 16, "output_tokens": 4},
        "scenarios": scenarios,
    })  # fmt: skip


def test_agent_workloads_stay_in_one_process_and_the_others_carry_the_ray_settings() -> None:
    runs = plan_study(study(baseline={"requests": 4}, sessions={"sessions": 2})).runs
    settings = RaySettings(address="127.0.0.1:6379", workers=2)
    on_ray = plan_ray(runs, settings)
    sessions = {r.order for r in runs if r.scenario == "sessions"}
    assert sessions
    assert on_ray.in_process == sessions
    for run in runs:
        spec = on_ray.spec_for(run)
        if run.scenario == "sessions":
            assert spec == run.spec  # no Ray: it would refuse an agent workload
            continue
        assert spec.ray == settings
        assert spec.spec_hash() == run.spec.spec_hash()  # where it ran is not what it ran


def test_a_local_instance_has_room_for_the_largest_run() -> None:
    runs = plan_study(study(concurrency={"levels": [1, 300], "requests": 300})).runs
    assert plan_ray(runs, RaySettings(address="local")).workers == 3  # 300 streams / 128
    assert plan_ray(runs, RaySettings(address="local", workers=2)).workers == 2


def test_without_ray_the_study_says_which_extra_to_install_before_any_run(
    tmp_path: Path,
) -> None:
    shadow = tmp_path / "ray"  # an installed `ray` that cannot be imported
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    spec = tmp_path / "study.yaml"
    spec.write_text(json.dumps({"targets": {"a": "sim:deterministic"},
                                "scenarios": {"baseline": {"requests": 2}}}))  # fmt: skip
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run(
        [sys.executable, "-m", "llmbench", "study", str(spec), "--ray", "local",
         "--output-dir", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "pip install 'llmbench[ray]'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()  # refused before the study started
