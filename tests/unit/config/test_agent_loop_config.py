"""The agent-loop block: read once from its file (inline settings over it, the path kept),
re-validated from a stored spec without the file; specs without the new settings hash as
before them."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmbench.config import RunSpec
from llmbench.errors import ConfigError


def test_a_file_is_read_once_and_inline_settings_win(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("tasks: 5\nhistory: keep_images\nactuation: {tap_s: 0.5}\n")
    spec = RunSpec.model_validate({"agent_loop": {"file": str(path), "tasks": 2}})
    loop = spec.agent_loop
    assert loop is not None
    assert (loop.tasks, loop.history, loop.actuation.tap_s) == (2, "keep_images", 0.5)
    assert (loop.file, loop.source) == (None, str(path))
    path.unlink()  # a stored spec validates again without its file
    again = RunSpec.model_validate(spec.model_dump(mode="json"))
    assert again == spec


def test_a_bad_file_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("tasks: 2\n\nmax_steps: 0\n")
    with pytest.raises(ConfigError, match=rf"{path}:3:\d+: max_steps"):
        RunSpec.model_validate({"agent_loop": {"file": str(path)}})


def test_specs_without_images_or_a_loop_hash_as_before_them() -> None:
    # the hashes these specs had before workload.images, agent_loop and the sim's image and
    # agent settings existed
    assert RunSpec().spec_hash() == "b5895116906cc5a5"
    spec = RunSpec.model_validate({"workload": {"input_tokens": 64}, "sim": {"ttft_ms": 5}})
    assert spec.spec_hash() == "8a598d509984e674"
    assert RunSpec.model_validate({"workload": {"images": {"count": 1}}}).spec_hash() != (
        RunSpec().spec_hash()
    )
