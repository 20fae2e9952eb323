"""Profile flags as a user types them: every bad combination is one clear line naming the flag
(in-process through `main`, no subprocess); good combinations give the expected spec."""

from __future__ import annotations

import pytest

from llmbench.cli.main import main
from llmbench.config import RunSpec


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--profile", "poisson"], "--rate: the poisson profile needs a rate"),
        (["--profile", "concurrency", "--rate", "5"], "--rate: a rate does not apply"),
        (["--profile", "constant", "--rate", "0"], "--rate"),
        (["--profile", "poisson", "--rate", "5", "--burstiness", "2"], "--burstiness"),
        (["--profile", "gamma", "--rate", "5", "--burstiness", "0"], "--burstiness"),
        (["--profile", "replay"], "--trace"),
        (["--profile", "ramp", "--rate", "5"], "--duration"),
        (["--profile", "sweep"], "--concurrency: sweep measures max throughput"),
        (["--profile", "concurrency", "--concurrency", "1,2"], "--concurrency"),
        (["--concurrency", "many"], "Invalid value for '--concurrency'"),
        (["--profile", "concurrency", "--max-concurrency", "4"], "--max-concurrency"),
        (["--profile", "slo-search"], "--slo"),
        (["--profile", "sweep", "--concurrency", "4", "--repeat", "2"], "--repeat"),
        (["--slo", "ttft_ms=3"], "--slo"),
        (["--slo", "ttft_ms:3", "--slo-attainment", "2"], "--slo-attainment"),
        (["--profile", "bogus"], "--profile"),
        (["--profile", "constant", "--rate", "2", "--ramp-start-rate", "1"], "--ramp-start-rate"),
        (["--time-scale", "0.5"], "--time-scale: applies to --profile replay only"),
        (["--workers", "0"], "--workers"),
        (["--input-tokens", "128,512"], "--profile/--input-tokens: --profile input-sweep and"),
        (["--profile", "input-sweep", "--input-tokens", "x"], "Invalid value for '--input-tok"),
        (["--input-tokens", "8", "--prefix-tokens", "9"], "--input-tokens/--prefix-tokens"),
        (["--input-mix", "128"], "'--input-mix': '128' is not TOKENS:WEIGHT"),
        (["--input-mix", "128:0.5,512:0.4"], "--input-mix: the weights must sum to 1, got 0.9"),
        (["--output-mix", "0:1"], "--output-mix: give TOKENS:WEIGHT pairs, tokens >= 1"),
        (["--input-mix", "128:1", "--input-tokens-stddev", "3"], "--input-mix: a mix or --inp"),
        (["--input-tokens-stddev", "-1"], "--input-tokens-stddev"),
        (["--output-tokens-stddev", "x"], "Invalid value for '--output-tokens-stddev'"),
        (["--input-mix", "8:1", "--prefix-tokens", "9", "--input-tokens", "9"], "--input-mix:"),
        (["--profile", "input-sweep", "--input-tokens", "8,16", "--input-mix", "8:1"], "sweep"),
    ],
)
def test_bad_run_flags_are_one_clear_line(
    args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("llmbench: error:")
    assert expected in err
    assert "Traceback" not in err


def test_specs_of_the_profiles() -> None:
    ramp = RunSpec.model_validate({"load": {"profile": "ramp", "rate": 5, "duration_s": 2}})
    assert ramp.load.open_loop
    streams = RunSpec.model_validate(
        {"load": {"profile": "ramp", "concurrency": 4, "duration_s": 2}}
    )
    assert not streams.load.open_loop
    replay = RunSpec.model_validate({"load": {"profile": "replay", "trace": "t.jsonl"}})
    assert replay.load.requests is None  # the whole trace
    assert RunSpec().load.profile == "concurrency"  # the defaults stay as they were
