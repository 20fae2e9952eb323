"""Task files: parsed and checked before anything is sent; every problem names FILE:LINE:COL,
the task and the step."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from llmbench.errors import ConfigError
from llmbench.workload.dag import LogNormal, draw_ms, load_tasks

GOOD = """\
tasks:
  - name: research-and-summarize
    priority: 2
    timeout_s: 120
    input: {goal: "find the capital of France"}
    steps:
      - id: plan
        prompt: "Plan how to {{ input.goal }}"
        max_tokens: 128
      - id: search
        kind: tool            # no model call: a simulated tool with a latency distribution
        latency_ms: {dist: lognormal, median: 300, sigma: 0.5}
        depends_on: [plan]
      - id: draft
        prompt: "Using {{ steps.plan.output }} and {{ steps.search.output }}, write ..."
        depends_on: [plan, search]
"""


def _load(tmp_path: Path, text: str) -> str:
    path = tmp_path / "tasks.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_tasks(path)
    return str(caught.value)


def test_the_issue_example_loads_in_dependency_order(tmp_path: Path) -> None:
    path = tmp_path / "tasks.yaml"
    path.write_text(GOOD)
    (task,) = load_tasks(path)
    assert task.name == "research-and-summarize"
    assert list(task.steps) == ["plan", "search", "draft"]
    assert task.steps["plan"].children == ("search", "draft")
    rendered = task.steps["draft"].prompt.render(  # type: ignore[union-attr]
        task.spec.input, {"plan": "P", "search": "S"}, {"name": "x", "instance": 0}
    )
    assert rendered == "Using P and S, write ..."


def test_a_cycle_is_refused_naming_task_steps_and_line(tmp_path: Path) -> None:
    text = GOOD.replace(
        "        max_tokens: 128\n", "        max_tokens: 128\n        depends_on: [draft]\n"
    )
    message = _load(tmp_path, text)
    assert "tasks.yaml:10:9" in message
    assert "task 'research-and-summarize', step 'plan'" in message
    assert "a dependency cycle" in message
    assert "plan" in message.split("cycle:")[1]
    assert "draft" in message.split("cycle:")[1]


def test_an_unknown_dependency_is_refused(tmp_path: Path) -> None:
    message = _load(
        tmp_path, GOOD.replace("depends_on: [plan, search]", "depends_on: [plan, serch]")
    )
    assert "tasks.yaml:16:9" in message
    assert "step 'draft'" in message
    assert "'serch', which is not a step of this task" in message


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("{{ input.goal }}", "{{ input.goal ", "syntax error on template line 1"),
        ("{{ input.goal }}", "{{ input.gaol }}", "'dict object' has no attribute 'gaol'"),
        ("{{ input.goal }}", "{{ goal }}", "unknown name goal"),
        (
            "{{ steps.search.output }}, write",
            "{{ steps.draft.output }}, write",
            "reads steps draft",
        ),
    ],
)
def test_template_errors_are_refused(tmp_path: Path, old: str, new: str, expected: str) -> None:
    message = _load(tmp_path, GOOD.replace(old, new, 1))
    assert expected in message
    assert "task 'research-and-summarize', step '" in message
    assert "tasks.yaml:" in message


def test_a_step_reading_an_output_it_does_not_depend_on_is_refused(tmp_path: Path) -> None:
    message = _load(tmp_path, GOOD.replace("depends_on: [plan, search]", "depends_on: [plan]"))
    assert "step 'draft'" in message
    assert "reads steps search" in message
    assert "add 'search' to depends_on" in message


def test_field_errors_name_the_task_and_step(tmp_path: Path) -> None:
    message = _load(
        tmp_path, GOOD.replace("dist: lognormal, median: 300", "dist: lognormal, median: -1")
    )
    assert "tasks.yaml:" in message
    assert "task 'research-and-summarize', step 'search'" in message
    assert "median" in message


def test_duplicate_ids_and_several_problems_are_listed(tmp_path: Path) -> None:
    text = GOOD.replace("- id: search", "- id: plan") + GOOD.split("tasks:\n", 1)[1]
    message = _load(tmp_path, text)
    assert "problems in the task file" in message
    assert "a second step with this id" in message
    assert "a second task with this name" in message


def test_tool_latency_draws_are_seeded() -> None:
    dist = LogNormal(dist="lognormal", median=300, sigma=0.5)
    first = [draw_ms(dist, random.Random("s:1")) for _ in range(3)]
    again = [draw_ms(dist, random.Random("s:1")) for _ in range(3)]
    assert first == again
    draws = sorted(draw_ms(dist, random.Random(f"s:{i}")) for i in range(2001))
    assert 270 < draws[1000] < 330  # the median of a lognormal is exp(μ)


def test_a_missing_file_names_the_flag(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_tasks(tmp_path / "none.yaml")
    assert "cannot read the task file" in str(caught.value)
    assert "--tasks" in str(caught.value)
