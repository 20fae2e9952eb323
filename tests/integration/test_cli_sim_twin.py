"""`llmbench sim presets` and `sim predict` through typer's CliRunner: the prediction carries a
measured run's summary schema, and bad flags are one clear line.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from llmbench.cli.main import app, main

runner = CliRunner()


def test_presets_lists_every_preset_with_parameters() -> None:
    result = runner.invoke(app, ["sim", "presets"])
    assert result.exit_code == 0, result.output
    for name in ("deterministic", "self-hosted-cold", "cloud-warm"):
        assert f"{name}:" in result.output
    assert "max_batched_tokens=8192" in result.output
    listed = json.loads(runner.invoke(app, ["sim", "presets", "--json"]).output)
    assert listed["self-hosted-cold"]["engine"]["batching"] == "static"


def test_predict_json_has_the_run_summary_schema() -> None:
    args = ["sim", "predict", "--rate", "5", "--duration", "20", "--input-tokens", "256"]
    result = runner.invoke(app, [*args, "--output-tokens", "32", "--seed", "1", "--json"])
    assert result.exit_code == 0, result.output
    run = json.loads(result.output)
    assert run["status"] == "predicted"
    for key in ("covers", "counts", "summary", "tokens", "outliers"):
        assert key in run
    summary = run["summary"]
    # Seeded and on a virtual clock, the prediction is a pure function of its arguments: the
    # figures of the default preset are pinned (recorded at this commit; a change to the twin's
    # model or the preset changes them on purpose, and this test with them). rel=1e-9 leaves
    # only float rounding across platforms.
    assert summary["ttft_ms"]["n"] == run["counts"]["ok"] == 107
    assert summary["ttft_ms"]["mean"] == pytest.approx(29.069575803738317, rel=1e-9)
    assert summary["ttft_ms"]["p50"] == pytest.approx(28.939183, rel=1e-9)
    assert summary["itl_ms"]["mean"] == pytest.approx(8.261808217968044, rel=1e-9)
    assert summary["itl_ms"]["p90"] == pytest.approx(8.5106108, rel=1e-9)
    assert summary["requests_per_s"] == pytest.approx(5.386323494437706, rel=1e-9)
    again = json.loads(
        runner.invoke(app, [*args, "--output-tokens", "32", "--seed", "1", "--json"]).output
    )
    assert again["summary"] == summary


def test_predict_deterministic_is_exact_and_prints_the_table() -> None:
    args = ["sim", "predict", "--preset", "deterministic", "--rate", "2", "--duration", "10"]
    result = runner.invoke(app, [*args, "--output-tokens", "8", "--json"])
    summary = json.loads(result.output)["summary"]
    assert summary["ttft_ms"]["mean"] == pytest.approx(200.0, abs=1e-6)
    assert summary["itl_ms"]["max"] == pytest.approx(20.0, abs=1e-6)
    table = runner.invoke(app, [*args, "--output-tokens", "8"])
    assert table.exit_code == 0
    assert "TTFT" in table.output
    assert "predicted offline" in table.output


def test_predict_overrides_and_replicas() -> None:
    base = ["sim", "predict", "--rate", "30", "--duration", "10", "--input-tokens", "2048"]
    one = json.loads(runner.invoke(app, [*base, "--json"]).output)
    small = json.loads(
        runner.invoke(app, [*base, "--set", "hardware.peak_flops=2e14", "--json"]).output
    )
    assert small["summary"]["ttft_ms"]["mean"] > one["summary"]["ttft_ms"]["mean"]
    two = json.loads(runner.invoke(app, [*base, "--replicas", "2", "--json"]).output)
    assert two["spec"]["load"]["replicas"] == 2


def test_predict_sessions_report_the_cache_and_the_ttft_of_reused_turns() -> None:
    args = ["sim", "predict", "--rate", "1", "--duration", "20", "--input-tokens", "1024"]
    args += ["--output-tokens", "32", "--turns", "3", "--think-time-s", "2"]
    run = json.loads(runner.invoke(app, [*args, "--json"]).output)
    facts = run["prediction"]["sessions"]
    assert facts["turns"] == 3 * facts["sessions"] == run["counts"]["ok"]
    assert facts["reused_turns"]["n"] == 2 * facts["sessions"]
    assert 0.3 < facts["cached_token_fraction"] < 0.7  # histories cached, new messages not
    assert run["spec"]["load"]["turns"] == 3
    table = runner.invoke(app, args)
    assert table.exit_code == 0
    assert "reused turns" in table.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--preset", "nope"], "unknown preset 'nope'"),
        (["--set", "engine.max_seqs=x"], "--set: engine.max_seqs"),
        (["--turns", "2", "--routing", "least-loaded"], "--routing: sessions stick"),
        (["--turns", "2", "--preset", "deterministic"], "--turns: sessions need"),
    ],
)
def test_bad_predict_flags_are_one_clear_line(
    args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["sim", "predict", "--rate", "1", "--duration", "1", *args])
    assert exit_info.value.code == 2
    assert expected in capsys.readouterr().err
