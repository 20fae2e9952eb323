"""The simulator's settings are one model: `sim serve` reads it from --config-json (typed flags
over it), and the run launcher passes a run's `sim` as that JSON, spelling no flag of its own."""

from __future__ import annotations

import json

import pytest

from llmbench.cli.sim import _serve_settings
from llmbench.config import RunSpec, SimSpec
from llmbench.errors import ConfigError
from llmbench.run.target import sim_serve_args
from llmbench.sim.server.config import SimConfig
from llmbench.sim.server.settings import SimSettings


def test_the_run_spec_holds_the_simulators_own_model() -> None:
    assert SimSpec is SimSettings
    assert isinstance(RunSpec().sim, SimSettings)


def test_the_launcher_passes_the_settings_as_json() -> None:
    sim = SimSettings(ttft_ms=5, itl_ms=1.5, fault_rate="429:0.1", preset="cloud-warm")
    args = sim_serve_args(sim, port=0)
    assert args[args.index("--config-json") + 1] == sim.model_dump_json()
    assert not [a for a in args if a.startswith("--") and a.replace("-", "_")[2:] in
                SimSettings.model_fields]  # fmt: skip
    assert _serve_settings(args[args.index("--config-json") + 1], {}) == sim


def test_typed_flags_override_the_json_and_problems_name_their_source() -> None:
    settings = _serve_settings(json.dumps({"ttft_ms": 5, "seed": 3}), {"ttft_ms": "7"})
    assert (settings.ttft_ms, settings.seed) == (7.0, 3)
    with pytest.raises(ConfigError, match=r"^--config-json: itl_ms: out of range"):
        _serve_settings(json.dumps({"itl_ms": -1}), {})
    with pytest.raises(ConfigError, match=r"^--tokens-per-chunk: tokens_per_chunk: out of range"):
        _serve_settings(None, {"tokens_per_chunk": "0"})
    with pytest.raises(ConfigError, match=r"^--config-json: not valid JSON"):
        _serve_settings("{", {})


def test_the_running_config_comes_from_the_settings() -> None:
    settings = SimSettings(ttft_ms=5, jitter_ms=1, fault_rate="500:0.5", log_capacity=10)
    config = SimConfig.from_settings(settings, api_key="k")
    assert (config.ttft_ns, config.jitter_ns, config.log_capacity) == (5_000_000, 1e6, 10)
    assert config.fault_rates == (("http_500", 0.5),)
    assert SimConfig().ttft_ms == SimSettings().ttft_ms  # one set of defaults
