"""The agent scenario kinds of a study: `sessions` (continued vs new), `agent-loop` (the sim
playing the agent) and `tasks` (sequential vs concurrent), their files read relative to the spec,
their problems named FILE:LINE before anything runs, and targets that cannot run them skipped
with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmbench.config.study_file import StudyFile, load_study_file
from llmbench.errors import ConfigError
from llmbench.study.plan import PlannedRun, plan_study

PRESETS = ["deterministic", "self-hosted-cold", "cloud-warm"]
TASKS = """\
tasks:
  - name: t
    steps:
      - id: plan
        prompt: "plan"
      - id: act
        prompt: "act on {{ steps.plan.output }}"
        depends_on: [plan]
"""
LOOP = "tasks: 3\nmax_steps: 5\nscreen_size: 100x200\n"
SPEC = """\
targets:
  sim: sim:cloud-warm
  chat: http://h:8000/v1
  plain: {base_url: "http://h:8001/v1", endpoint: completions}
workload: {input_tokens: 64, output_tokens: 8}
scenarios:
  sessions: {sessions: 2, turns: 3, system_tokens: 32, warmup: 1}
  phone: {kind: agent-loop, file: loop.yaml, concurrency: 2}
  tasks: {file: dag/tasks.yaml, concurrency: 4, repeat: 3}
"""


def write(tmp_path: Path, spec: str = SPEC, tasks: str = TASKS) -> Path:
    (tmp_path / "dag").mkdir(exist_ok=True)
    (tmp_path / "dag" / "tasks.yaml").write_text(tasks)
    (tmp_path / "loop.yaml").write_text(LOOP)
    path = tmp_path / "study.yaml"
    path.write_text(spec)
    return path


def load(tmp_path: Path, spec: str = SPEC, tasks: str = TASKS) -> StudyFile:
    return load_study_file(write(tmp_path, spec, tasks), PRESETS)


def runs(study: StudyFile, scenario: str) -> dict[tuple[str, str], PlannedRun]:
    return {(r.target, r.step.label): r for r in plan_study(study).runs if r.scenario == scenario}


def test_sessions_run_continued_and_new_with_the_same_turns(tmp_path: Path) -> None:
    planned = runs(load(tmp_path), "sessions")
    continued, new = planned[("sim", "continued")].spec, planned[("sim", "new")].spec
    for spec in (continued, new):
        assert (spec.workload.sessions, spec.workload.turns) == (2, 3)
        assert spec.workload.system_tokens == 32
        assert spec.load.total_requests == 2 * 3 + 3  # one warm-up session of 3 turns
    assert continued.workload.cache_bust == "session"  # turn 0 cold, later turns reuse
    assert new.workload.cache_bust == "turn"  # every turn a new conversation
    # the same prompts to every target of a block
    assert planned[("sim", "new")].workload_hash == planned[("chat", "new")].workload_hash


def test_the_agent_loop_reads_its_file_beside_the_spec_and_the_sim_plays_the_agent(
    tmp_path: Path,
) -> None:
    study = load(tmp_path)
    planned = runs(study, "phone")
    sim, chat = planned[("sim", "run")].spec, planned[("chat", "run")].spec
    assert sim.agent_loop is not None
    assert chat.agent_loop is not None
    assert (sim.agent_loop.tasks, sim.agent_loop.max_steps) == (3, 5)  # from loop.yaml
    assert sim.agent_loop.concurrency == 2  # inline over the file
    assert sim.agent_loop.source == str(tmp_path / "loop.yaml")
    assert sim.sim.reply == "agent"
    assert planned[("sim", "run")].workload_hash == planned[("chat", "run")].workload_hash
    # the token scenarios' simulator answers with words
    assert runs(study, "sessions")[("sim", "new")].spec.sim.reply == "words"


def test_tasks_run_sequential_and_concurrent(tmp_path: Path) -> None:
    planned = runs(load(tmp_path), "tasks")
    sequential, concurrent = (planned[("sim", mode)].spec for mode in ("sequential", "concurrent"))
    assert sequential.tasks is not None
    assert concurrent.tasks is not None
    assert sequential.tasks.file == str(tmp_path / "dag" / "tasks.yaml")
    assert (sequential.tasks.mode, sequential.tasks.repeat) == ("sequential", 3)
    assert (concurrent.tasks.mode, concurrent.tasks.concurrency) == ("concurrent", 4)


def test_a_target_that_cannot_run_a_kind_is_skipped_with_the_reason(tmp_path: Path) -> None:
    plan = plan_study(load(tmp_path))
    skipped = {(t, s): why for t, s, why in plan.skipped}
    assert set(skipped) == {("plain", "sessions"), ("plain", "phone")}
    assert skipped[("plain", "sessions")] == "sessions (sessions) needs the chat endpoint"
    assert skipped[("plain", "phone")] == (
        "phone (agent-loop) needs the chat endpoint or an agent task API"
    )
    assert {r.target for r in plan.runs if r.scenario == "tasks"} == {"sim", "chat", "plain"}


def test_a_bad_task_file_is_named_at_its_line_before_anything_runs(tmp_path: Path) -> None:
    study = load(tmp_path, tasks=TASKS.replace("depends_on: [plan]", "depends_on: [plna]"))
    with pytest.raises(ConfigError) as info:
        plan_study(study)
    assert f"{tmp_path / 'dag' / 'tasks.yaml'}:8:" in str(info.value)
    assert "plna" in str(info.value)


def test_agent_scenario_settings_are_checked_with_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, SPEC.replace("turns: 3", "turns: 1").replace("repeat: 3", "repeet: 3"))
    message = str(info.value)
    assert "study.yaml:7:" in message
    assert "scenarios.sessions.turns" in message
    assert "study.yaml:9:" in message
    assert "scenarios.tasks.repeet: unknown key" in message


SERVICES = """\
targets:
  loop: sim:self-hosted-cold
  face: {preset: cloud-warm, agent: manus, task_options: "steps:3,tool_ms:20"}
  manus: {kind: manus, base_url: "https://api.example.com", poll_interval_ms: 2000}
workload: {input_tokens: 64, output_tokens: 8}
scenarios:
  baseline: {requests: 2}
  agent-loop: {tasks: 3, concurrency: 2, warmup_tasks: 1}
"""


def test_an_agent_service_runs_the_agent_loops_tasks_on_its_task_api(tmp_path: Path) -> None:
    plan = plan_study(load(tmp_path, SERVICES))
    skipped = {(t, s): why for t, s, why in plan.skipped}
    # an agent service streams no tokens: the token scenarios skip it, saying why
    assert skipped == {("manus", "baseline"): "baseline (baseline) needs a streamed token API"}
    runs = {(r.target, r.scenario): r.spec for r in plan.runs}
    loop, face, manus = (runs[(t, "agent-loop")] for t in ("loop", "face", "manus"))
    assert loop.agent_loop is not None
    assert loop.sim.reply == "agent"
    for service in (face, manus):
        assert service.agent_loop is None
        assert service.target.kind == "manus"
        assert service.load.total_requests == 3 + 1  # the loop's tasks and warm-up tasks
        assert getattr(service.load, "concurrency", None) == 2
    assert face.sim.task_options == "steps:3,tool_ms:20"  # the embedded simulator's task face
    assert face.task_api.poll_interval_ms == 50
    assert manus.target.base_url == "https://api.example.com"
    assert manus.task_api.poll_interval_ms == 2000
    # the face's token scenarios go to the same simulator, with its words
    assert runs[("face", "baseline")].sim.reply == "words"


def test_a_bad_task_face_plan_is_named_at_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, SERVICES.replace("steps:3,tool_ms:20", "stops:3"))
    message = str(info.value)
    assert "study.yaml:3:" in message
    assert "targets.face.task_options" in message
    assert "unknown task option" in message


def test_a_missing_agent_loop_file_is_named_where_the_spec_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, SPEC.replace("file: loop.yaml", "file: gone.yaml"))
    message = str(info.value)
    assert "study.yaml:8:" in message
    assert f"{tmp_path / 'gone.yaml'}': no such agent-loop file" in message
