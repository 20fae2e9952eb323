"""Study spec files: every problem named FILE:LINE:COL with its field and the allowed values,
unknown target and scenario kinds listing the valid ones, and the shorthands."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmbench.config.study_file import (
    BaselineScenario,
    ConcurrencyScenario,
    OpenAITarget,
    SimTarget,
    StudyFile,
    load_study_file,
)
from llmbench.errors import ConfigError
from llmbench.study.plan import plan_study

PRESETS = ["deterministic", "self-hosted-cold", "cloud-warm"]
GOOD = """\
targets:
  self-hosted: sim:self-hosted-cold
  cloud: https://api.example.com/v1
scenarios:
  baseline: {requests: 5}
  load: {kind: concurrency, levels: [1, 2]}
"""


def load(tmp_path: Path, text: str) -> StudyFile:
    path = tmp_path / "study.yaml"
    path.write_text(text)
    return load_study_file(path, PRESETS)


def problem(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    return str(info.value)


def test_shorthands_name_the_kind(tmp_path: Path) -> None:
    study = load(tmp_path, GOOD)
    assert study.targets["self-hosted"] == SimTarget(preset="self-hosted-cold")
    assert study.targets["cloud"] == OpenAITarget(base_url="https://api.example.com/v1")
    assert study.scenarios["baseline"] == BaselineScenario(requests=5)
    assert study.scenarios["load"] == ConcurrencyScenario(levels=[1, 2])


def test_an_unknown_target_kind_lists_the_valid_ones_at_its_line(tmp_path: Path) -> None:
    text = GOOD.replace("cloud: https://api.example.com/v1", "cloud: {kind: grpc, base_url: x}")
    message = problem(tmp_path, text)
    assert f"{tmp_path / 'study.yaml'}:3:" in message
    assert "targets.cloud.kind" in message
    assert "'openai', 'sim'" in message


def test_an_unknown_scenario_kind_lists_the_valid_ones(tmp_path: Path) -> None:
    message = problem(tmp_path, GOOD + "  warmth: {}\n")
    assert "study.yaml:7:" in message
    assert "scenarios.warmth.kind" in message
    assert (
        "'baseline', 'concurrency', 'input-length', 'rate', 'sessions', 'agent-loop', 'tasks'"
        in message
    )


def test_an_unknown_key_inside_a_target_is_named_without_the_kind_tag(tmp_path: Path) -> None:
    text = GOOD.replace(
        "cloud: https://api.example.com/v1", "cloud: {base_url: 'http://x', modle: m}"
    )
    message = problem(tmp_path, text)
    assert "study.yaml:3:" in message
    assert "targets.cloud.modle: unknown key" in message
    assert "did you mean 'model'?" in message
    assert "api_key_env, base_url" in message  # the allowed keys


def test_a_type_error_names_file_line_and_field(tmp_path: Path) -> None:
    message = problem(tmp_path, GOOD.replace("levels: [1, 2]", "levels: [1, many]"))
    assert "study.yaml:6:" in message
    assert "scenarios.load.levels[1]: not an integer" in message


def test_an_unknown_preset_lists_the_presets(tmp_path: Path) -> None:
    message = problem(tmp_path, GOOD.replace("sim:self-hosted-cold", "sim:warmest"))
    assert "study.yaml:2:" in message
    assert "targets.self-hosted.preset" in message
    assert "deterministic, self-hosted-cold, cloud-warm" in message


def test_an_unknown_top_level_key_and_several_problems_are_all_listed(tmp_path: Path) -> None:
    message = problem(tmp_path, GOOD + "repeat: 3\norder: shuffled\n")
    assert "2 problems in the study spec" in message
    assert "study.yaml:7:1: repeat: unknown key" in message
    assert "did you mean 'repeats'?" in message
    assert "study.yaml:8:1: order" in message
    assert "'interleaved' or 'random'" in message


def test_target_names_become_directory_names_so_they_are_checked(tmp_path: Path) -> None:
    message = problem(tmp_path, GOOD.replace("cloud:", "'../cloud':"))
    assert "'../cloud'" in message
    assert "letters, digits" in message


def test_the_spec_in_the_docs_and_the_demo_spec_load(tmp_path: Path) -> None:
    docs = (Path(__file__).parents[3] / "docs" / "studies.md").read_text()
    example = docs.split("## The spec\n\n```yaml\n")[1].split("```")[0]
    workloads = Path(__file__).parents[3] / "examples" / "workloads"
    for name, source in (("phone-agent.yaml", "phone-agent.yaml"),
                         ("fan-out.yaml", "fan-out-planner.yaml")):  # fmt: skip
        (tmp_path / name).write_text((workloads / source).read_text())  # beside the spec
    study = load(tmp_path, example)
    assert list(study.scenarios) == [
        "baseline", "concurrency", "input-length", "rate", "long-prompts", "sessions",
        "agent-loop", "tasks",
    ]  # fmt: skip
    demo = Path(__file__).parents[3] / "src" / "llmbench" / "study" / "specs" / "demo.yaml"
    assert load_study_file(demo, PRESETS).targets["cloud"] == SimTarget(
        preset="cloud-warm", agent="manus", task_options="steps:3,tokens:32,tool_ms:200"
    )


def test_a_missing_spec_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such study spec file") as info:
        load_study_file(tmp_path / "nope.yaml", PRESETS)
    assert "llmbench study" in str(info.value)


@pytest.mark.parametrize(("engine", "force"), [("transformers", "true"), ("null", "false")])
def test_the_gpu_study_spec_loads_and_plans_as_the_script_fills_it(
    tmp_path: Path, engine: str, force: str
) -> None:
    # scripts/gpu_validation.sh STAGE=study fills these in (transformers on the GPU; the
    # simulator in its CPU dry run): the committed template must stay a valid study
    template = Path(__file__).parents[3] / "scripts" / "gpu" / "study-gpu.yaml"
    text = template.read_text()
    fill = {"@BASE_URL@": "http://127.0.0.1:8765/v1", "@MODEL@": "/m", "@TOKENIZER@": "/m",
            "@ENGINE@": engine, "@FORCE@": force}  # fmt: skip
    for key, value in fill.items():
        text = text.replace(key, value)
    study = load(tmp_path, text)
    runs = plan_study(study).runs
    assert len(runs) == 1 + 7 + 4 + 2
    spec = runs[0].spec
    assert spec.workload.exact_tokens
    assert spec.workload.input_tokens == 2048
    assert spec.tokenizer == "hf:/m"
    assert spec.workload.force_length is (force == "true")
    assert spec.target.engine == (None if engine == "null" else engine)
