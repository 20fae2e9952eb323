"""`sim.preset_overrides`: checked when the spec is read (names and types, and a preset to
change), absent from results and hashes at the default, recorded when set."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from llmbench.config import RunSpec, SimSpec
from llmbench.config.run import sim_settings_dump


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (("engine.nope=1",), "unknown field 'engine.nope'"),
        (("engine.start_cold=maybe",), "is not true or false"),
        (("notakeyvalue",), "is not key=value"),
    ],
)
def test_a_bad_override_is_refused(overrides: tuple[str, ...], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        SimSpec(preset="self-hosted-cold", preset_overrides=overrides)


def test_overrides_need_a_preset() -> None:
    """Without one the simulator would time a preset the results do not name."""
    with pytest.raises(ValidationError, match="name it too"):
        SimSpec(preset_overrides=("engine.cold_start_s=1",))


def test_absent_at_the_default_and_recorded_when_set() -> None:
    assert "preset_overrides" not in sim_settings_dump(SimSpec(preset="cloud-warm"))
    assert RunSpec().spec_hash() == "b5895116906cc5a5"
    cold = SimSpec(preset="cloud-warm", preset_overrides=("engine.start_cold=true",))
    assert sim_settings_dump(cold)["preset_overrides"] == ["engine.start_cold=true"]
    assert RunSpec(sim=cold).spec_hash() != RunSpec(sim=SimSpec(preset="cloud-warm")).spec_hash()
