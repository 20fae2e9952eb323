"""Profile flags as a user types them: every bad combination is one clear line naming the flag
(in-process through `main`, no subprocess); good combinations give the expected spec."""

from __future__ import annotations

import pytest

from llmbench.cli.main import main
from llmbench.config import ClosedLoad, RunSpec, is_open_loop


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--profile", "poisson"], "load.rate (--rate): required for kind open"),
        (
            ["--profile", "concurrency", "--rate", "5"],
            "--rate: load.rate: not a setting of kind closed",
        ),
        (["--profile", "constant", "--rate", "0"], "--rate"),
        (["--profile", "poisson", "--rate", "5", "--burstiness", "2"], "--burstiness"),
        (["--profile", "gamma", "--rate", "5", "--burstiness", "0"], "--burstiness"),
        (["--profile", "replay"], "--trace"),
        (["--profile", "ramp", "--rate", "5"], "--duration"),
        (
            ["--profile", "sweep"],
            "sweep measures max throughput with N streams: load.concurrency (--concurrency) >= 2",
        ),
        (["--profile", "concurrency", "--concurrency", "1,2"], "--concurrency"),
        (["--concurrency", "many"], "--concurrency: 'many' is not a number or a list"),
        (["--profile", "concurrency", "--max-concurrency", "4"], "--max-concurrency"),
        (["--profile", "slo-search"], "--slo"),
        (["--profile", "sweep", "--concurrency", "4", "--repeat", "2"], "--repeat"),
        (["--slo", "ttft_ms=3"], "--slo"),
        (["--slo", "ttft_ms:3", "--slo-attainment", "2"], "--slo-attainment"),
        (["--profile", "bogus"], "--profile"),
        (["--profile", "constant", "--rate", "2", "--ramp-start-rate", "1"], "--ramp-start-rate"),
        (["--time-scale", "0.5"], "--time-scale: load.time_scale: not a setting of kind closed"),
        (["--workers", "0"], "--workers"),
        (["--input-tokens", "128,512"], "--input-tokens: --profile input-sweep and"),
        (
            ["--profile", "input-sweep", "--input-tokens", "x"],
            "--input-tokens: 'x' is not a number",
        ),
        (
            ["--input-tokens", "8", "--prefix-tokens", "9"],
            "--prefix-tokens: workload.prefix_tokens: 9 exceeds the input length 8",
        ),
        (["--input-mix", "128"], "--input-mix: workload.input_mix: '128' is not TOKENS:WEIGHT"),
        (
            ["--input-mix", "128:0.5,512:0.4"],
            "--input-mix: workload.input_mix: the weights must sum to 1, got 0.9",
        ),
        (
            ["--output-mix", "0:1"],
            "--output-mix: workload.output_mix: give TOKENS:WEIGHT pairs, tokens 1..",
        ),
        (
            ["--input-mix", "128:1", "--input-tokens-stddev", "3"],
            "--input-mix: workload.input_mix: a mix or input_tokens_stddev",
        ),
        (["--input-tokens-stddev", "-1"], "--input-tokens-stddev"),
        (
            ["--output-tokens-stddev", "x"],
            "--output-tokens-stddev: workload.output_tokens_stddev: not a number",
        ),
        (
            ["--input-mix", "8:1", "--prefix-tokens", "9", "--input-tokens", "9"],
            "--prefix-tokens: ",
        ),
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
    assert is_open_loop(ramp.load)
    streams = RunSpec.model_validate({"load": {"kind": "ramp", "concurrency": 4, "duration_s": 2}})
    assert not is_open_loop(streams.load)
    replay = RunSpec.model_validate({"load": {"kind": "replay", "trace": "t.jsonl"}})
    assert replay.load.requests is None  # the whole trace
    default = RunSpec().load  # the defaults stay as they were: one closed-loop stream
    assert isinstance(default, ClosedLoad)
    assert (default.concurrency, default.requests) == (1, 100)
