"""`target.kind`: the default, the flag, and the one clear error for a kind not yet built."""

from __future__ import annotations

import pytest

from llmbench.config import RunSpec
from llmbench.config.run import TARGET_KINDS
from llmbench.errors import ConfigError
from llmbench.run.workers import child
from llmbench.run.workers.child import IMPLEMENTED_KINDS, check_target_kind, make_client


def test_the_default_kind_is_openai_and_keeps_the_spec_hash() -> None:
    spec = RunSpec()
    assert spec.target.kind == "openai"
    # Runs made before `kind` existed stay comparable: the default is not part of the hash.
    other = RunSpec.model_validate({"target": {"kind": "anthropic"}})
    assert spec.spec_hash() == "b5895116906cc5a5"  # the default spec's hash before `kind`
    assert other.spec_hash() != spec.spec_hash()


def test_a_kind_not_built_yet_is_one_clear_error_naming_the_ones_that_are(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert set(IMPLEMENTED_KINDS) == set(TARGET_KINDS)  # every kind defined is built now
    # a build without some kind (as before each was built) says which ones work
    monkeypatch.setattr(child, "IMPLEMENTED_KINDS", ("openai", "anthropic"))
    spec = RunSpec.model_validate({"target": {"kind": "a2a"}})
    with pytest.raises(ConfigError) as caught:
        check_target_kind(spec)
    assert "a2a" in caught.value.message
    assert "openai, anthropic" in (caught.value.hint or "")
    with pytest.raises(ConfigError):
        make_client(spec, "http://127.0.0.1:1", "m", api_key=None, connection_limit=1,
                    tokenizer=None)  # fmt: skip


def test_an_unknown_kind_is_refused_with_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="openai"):
        RunSpec.model_validate({"target": {"kind": "grpc"}})


def test_an_a2a_target_takes_a_closed_load_only() -> None:
    from llmbench.run.plan import build_load

    closed = RunSpec.model_validate(
        {"target": {"kind": "a2a"}, "load": {"concurrency": 3, "requests": 5}}
    )
    plan = build_load(closed)
    assert plan.agent is not None
    assert plan.agent.concurrency == 3
    open_load = RunSpec.model_validate(
        {"target": {"kind": "a2a"}, "load": {"kind": "open", "rate": 2, "requests": 4}}
    )
    with pytest.raises(ConfigError, match="closed load"):
        build_load(open_load)


@pytest.mark.parametrize(
    ("settings", "flag"),
    [
        ({"workload": {"force_length": True}}, "--force-length"),
        ({"target": {"kind": "anthropic", "endpoint": "completions"}}, "--endpoint"),
        ({"target": {"kind": "a2a"}, "tasks": {"file": "x.yaml"}}, "--tasks"),
    ],
)
def test_openai_only_settings_are_refused_for_another_kind(
    settings: dict[str, dict[str, object]], flag: str
) -> None:
    data = {"target": {"kind": "anthropic"}, **settings}
    with pytest.raises(ConfigError) as caught:
        check_target_kind(RunSpec.model_validate(data))
    assert flag in (caught.value.where or "")
