"""Presets of the twin: the built-ins, field-by-field overrides, preset files, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmbench.sim.twin.params import Preset
from llmbench.sim.twin.presets import (
    BUILTIN,
    builtin,
    from_dict,
    load_file,
    override,
    parse_assignments,
    to_dict,
)
from llmbench.sim.twin.steptime import StepCost


def test_builtins_are_the_three_named_ones() -> None:
    assert set(BUILTIN) == {"deterministic", "self-hosted-cold", "cloud-warm"}
    cold = builtin("self-hosted-cold")
    assert cold.engine.batching == "static"
    assert not cold.engine.prefix_cache
    assert cold.engine.cold_start_s > 0
    assert cold.hardware.memory_bytes == 24e9
    warm = builtin("cloud-warm")
    assert warm.engine.batching == "continuous"
    assert warm.engine.prefix_cache
    assert warm.engine.min_cacheable_tokens == 1024
    assert warm.engine.cache_ttl_s > 0


def test_a_9b_model_leaves_a_few_gigabytes_of_kv_on_24_gb() -> None:
    cold = builtin("self-hosted-cold")
    kv_tokens = cold.total_kv_blocks() * cold.engine.block_tokens
    # (24·0.95 − 18.8 − 1.5) GB / 40 KiB per token ≈ 61k tokens
    assert 50_000 < kv_tokens < 70_000


def test_override_by_dotted_or_unique_bare_name() -> None:
    preset = override(builtin("cloud-warm"), parse_assignments(["engine.max_seqs=64", "stall_s=1"]))
    assert preset.engine.max_seqs == 64
    assert preset.noise.stall_s == 1.0
    assert builtin("cloud-warm").engine.max_seqs == 256  # the built-in is untouched


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("engine.max_seqs=lots", "integer"),
        ("engine.nope=1", "unknown field"),
        ("gpu.x=1", "unknown section"),
        ("engine.prefix_cache=1", "true or false"),
        ("engine.batching=dynamic", "batching must be"),
        ("engine.max_seqs=0", "must be > 0"),
        ("max_seqs", "key=value"),
    ],
)
def test_bad_overrides_say_what_is_wrong(assignment: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        override(builtin("cloud-warm"), parse_assignments([assignment]))


def test_preset_files_json_and_toml(tmp_path: Path) -> None:
    toml = tmp_path / "mine.toml"
    toml.write_text('base = "self-hosted-cold"\nname = "mine"\n[engine]\nmax_seqs = 4\n')
    preset = load_file(toml)
    assert (preset.name, preset.engine.max_seqs, preset.engine.batching) == ("mine", 4, "static")
    as_json = tmp_path / "mine.json"
    as_json.write_text(json.dumps(to_dict(preset)))
    assert load_file(as_json) == preset  # what `to_dict` writes loads back unchanged


def test_preset_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"engine": {"max_seqs": "x"}}')
    with pytest.raises(ValueError, match=r"bad\.json"):
        load_file(bad)
    with pytest.raises(ValueError, match="unknown key"):
        from_dict({"gpu": {}})


def test_weights_that_do_not_fit_are_refused() -> None:
    with pytest.raises(ValueError, match="no memory for the KV cache"):
        override(builtin("self-hosted-cold"), {"model.n_params": 20e9})


def decode_step_s(preset: Preset, batch: int, context: int) -> float:
    import random

    cost = StepCost(preset, random.Random(0))
    return cost.base_seconds(batch, float(batch * context), float(batch * context**2), [])


def test_decode_is_memory_bound_and_batching_is_nearly_free() -> None:
    preset = builtin("cloud-warm")
    one = decode_step_s(preset, 1, 512)
    # weights 16 GB over 3.35 TB/s · 0.8 ≈ 6 ms, plus 2 ms step overhead
    assert 0.007 < one < 0.0095
    assert decode_step_s(preset, 32, 512) < 1.5 * one


def test_unequal_contexts_are_slower_than_their_mean() -> None:
    import random

    cost = StepCost(builtin("cloud-warm"), random.Random(0))
    equal = cost.base_seconds(2, 8000.0, 2 * 4000.0**2, [])
    unequal = cost.base_seconds(2, 8000.0, 100.0**2 + 7900.0**2, [])
    assert unequal > equal


def test_noise_keeps_the_mean_step_time() -> None:
    import random

    preset = override(builtin("cloud-warm"), {"noise.jitter_sigma": 0.2})
    cost = StepCost(preset, random.Random(1))
    samples = [cost.noisy(0.01) for _ in range(20_000)]
    assert sum(samples) / len(samples) == pytest.approx(0.01, rel=0.01)
