"""SimConfig: defaults, unit conversion, validation, and a repr that hides the API key.

The configuration is the only thing the CLI hands the simulator.
"""

from __future__ import annotations

import dataclasses

import pytest

from llmbench.sim.server.config import SimConfig


def test_defaults_and_nanosecond_views() -> None:
    config = SimConfig()
    assert (config.ttft_ns, config.itl_ns, config.jitter_ns) == (200_000_000, 20_000_000, 0.0)
    assert config.model == "llmbench-sim"
    assert config.api_key is None


def test_fractional_milliseconds_round_to_nanoseconds() -> None:
    assert SimConfig(ttft_ms=0.0015, itl_ms=2.5).ttft_ns == 1_500
    assert SimConfig(itl_ms=2.5).itl_ns == 2_500_000


@pytest.mark.parametrize(
    "bad",
    [
        {"ttft_ms": -1.0},
        {"itl_ms": float("nan")},
        {"jitter_ms": -0.1},
        {"tokens_per_chunk": 0},
        {"max_tokens_limit": 0},
        {"max_body_bytes": 0},
        {"log_capacity": True},
        {"model": ""},
        {"api_key": ""},
    ],
)
def test_invalid_values_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        SimConfig(**bad)  # type: ignore[arg-type]


def test_repr_never_shows_the_api_key() -> None:
    config = SimConfig(api_key="sk-very-secret")
    assert "sk-very-secret" not in repr(config)
    assert "sk-very-secret" not in str(config)


def test_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        SimConfig().ttft_ms = 1.0  # type: ignore[misc]
