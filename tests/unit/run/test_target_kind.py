"""`target.kind`: the default, the flag, and the one clear error for a kind not yet built."""

from __future__ import annotations

import pytest

from llmbench.config import RunSpec
from llmbench.config.run import TARGET_KINDS
from llmbench.errors import ConfigError
from llmbench.run.workers.child import IMPLEMENTED_KINDS, check_target_kind, make_client


def test_the_default_kind_is_openai_and_keeps_the_spec_hash() -> None:
    spec = RunSpec()
    assert spec.target.kind == "openai"
    # Runs made before `kind` existed stay comparable: the default is not part of the hash.
    other = RunSpec.model_validate({"target": {"kind": "anthropic"}})
    assert spec.spec_hash() == "b5895116906cc5a5"  # the default spec's hash before `kind`
    assert other.spec_hash() != spec.spec_hash()


@pytest.mark.parametrize("kind", [k for k in TARGET_KINDS if k not in IMPLEMENTED_KINDS])
def test_a_kind_not_built_yet_is_one_clear_error_naming_the_ones_that_are(kind: str) -> None:
    spec = RunSpec.model_validate({"target": {"kind": kind}})
    with pytest.raises(ConfigError) as caught:
        check_target_kind(spec)
    assert kind in caught.value.message
    assert all(k in (caught.value.hint or "") for k in IMPLEMENTED_KINDS)
    with pytest.raises(ConfigError):
        make_client(spec, "http://127.0.0.1:1", "m", api_key=None, connection_limit=1,
                    tokenizer=None)  # fmt: skip


def test_an_unknown_kind_is_refused_with_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="openai"):
        RunSpec.model_validate({"target": {"kind": "grpc"}})
