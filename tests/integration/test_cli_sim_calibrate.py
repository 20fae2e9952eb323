"""`llmbench sim calibrate RUN_DIR... --out F`: results directories (here written from the twin's
offline predictions of a known preset, in the measured runs' format) → a preset file that
recovers that preset's efficiencies and loads back with `--preset-file`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmbench.cli.main import app
from llmbench.config import RunSpec
from llmbench.errors import ConfigError
from llmbench.prediction.predict import to_records
from llmbench.sim.twin.offline import predict
from llmbench.sim.twin.presets import builtin, load_file, override
from llmbench.store.results import RunWriter
from llmbench.store.study_index import write_study_index
from support.runs import run_with, study_of

TRUTH = override(
    builtin("cloud-warm"),
    {
        "hardware.compute_efficiency": 0.3,
        "hardware.memory_efficiency": 0.55,
        "noise.jitter_sigma": 0.0,
        "noise.stall_probability": 0.0,
    },
)


def write_run(
    directory: Path, arrivals: list[float], input_tokens: int, concurrency: int, **spec: Any
) -> Path:
    out = predict(TRUTH, arrivals, input_tokens=input_tokens, output_tokens=32)
    with RunWriter(directory) as writer:
        load = {"concurrency": concurrency, "requests": len(arrivals)}
        resolved = RunSpec.model_validate({"load": load, **spec})
        embedded = resolved.sim if resolved.target.base_url is None else None
        run = run_with(resolved, base="running", run_id=directory.name)
        target = run.target.model_copy(update={"embedded_sim": embedded})
        writer.write_run(run.model_copy(update={"target": target}))
        for record in to_records(out.requests):
            writer.append(record)
    return directory


def test_calibrate_recovers_the_measured_preset(tmp_path: Path) -> None:
    runs = [
        write_run(tmp_path / f"in-{n}", [0.0, 10.0, 20.0], n, 1) for n in (256, 1024, 2048, 4096)
    ]
    runs += [write_run(tmp_path / f"c-{b}", [0.0] * b, 512, b) for b in (8, 32, 96)]
    out = tmp_path / "fitted.json"
    result = CliRunner().invoke(app, ["sim", "calibrate", *map(str, runs), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "TTFT" in result.output
    document = json.loads(out.read_text())
    assert [source["dir"] for source in document["fitted"]["runs"]] == [str(r) for r in runs]
    fitted = load_file(out)
    assert fitted.name == "cloud-warm-calibrated"
    assert fitted.hardware.compute_efficiency == pytest.approx(0.3, rel=0.1)
    assert fitted.hardware.memory_efficiency == pytest.approx(0.55, rel=0.15)


def test_calibrate_without_the_sweeps_is_one_clear_error(tmp_path: Path) -> None:
    run = write_run(tmp_path / "one", [0.0], 256, 1)
    result = CliRunner().invoke(
        app, ["sim", "calibrate", str(run), "--out", str(tmp_path / "f.json")]
    )
    assert result.exit_code != 0
    assert "input-length sweep" in str(result.exception)


def test_an_input_sweep_alone_names_the_missing_concurrency_sweep(tmp_path: Path) -> None:
    runs = [write_run(tmp_path / f"in-{n}", [0.0, 10.0], n, 1) for n in (256, 1024, 2048)]
    result = CliRunner().invoke(
        app, ["sim", "calibrate", *map(str, runs), "--out", str(tmp_path / "f.json")]
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError)
    assert "concurrency sweep" in str(result.exception)
    assert "RUN_DIR" in result.exception.where
    assert not (tmp_path / "f.json").exists()


def test_unknown_shape_writes_a_polynomial_preset_with_provenance(tmp_path: Path) -> None:
    runs = [write_run(tmp_path / f"in-{n}", [0.0, 10.0], n, 1) for n in (256, 1024, 2048)]
    runs += [write_run(tmp_path / f"c-{b}", [0.0] * b, 512, b) for b in (8, 32)]
    out = tmp_path / "poly.json"
    args = ["sim", "calibrate", *map(str, runs), "--out", str(out), "--shape", "unknown"]
    args += ["--engine-name", "vllm", "--engine-version", "0.6.3", "--gpu", "H100 80GB"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    fitted = load_file(out)
    assert fitted.timing == "polynomial"
    assert fitted.polynomial.prefill_per_token_s > 0
    document = json.loads(out.read_text())
    engine = document["fitted"]["engine"]
    assert (engine["name"], engine["version"], engine["gpu"]) == ("vllm", "0.6.3", "H100 80GB")
    assert document["fitted"]["shape"] == "polynomial"
    assert len(document["fitted"]["fit_error"]) == len(runs)
    shown = CliRunner().invoke(app, ["sim", "presets", "--preset-file", str(out)])
    assert shown.exit_code == 0, shown.output
    assert "vllm 0.6.3" in shown.output
    assert "H100 80GB" in shown.output
    assert "polynomial:" in shown.output


def test_runs_against_the_embedded_twin_name_it_and_study_dirs_expand(tmp_path: Path) -> None:
    embedded = {"sim": {"preset": "cloud-warm"}, "target": {"base_url": None}}
    study = tmp_path / "lengths"
    steps = [write_run(study / f"0{k}-in{n}", [0.0, 10.0], n, 1, **embedded)
             for k, n in enumerate((256, 1024, 2048))]  # fmt: skip
    write_study_index(study, study_of([step.name for step in steps]))
    batches = [write_run(tmp_path / f"c-{b}", [0.0] * b, 512, b, **embedded) for b in (8, 32)]
    out = tmp_path / "f.json"
    args = ["sim", "calibrate", str(study), *map(str, batches), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    fitted = json.loads(out.read_text())["fitted"]
    assert fitted["engine"]["name"] == "llmbench-sim twin (cloud-warm)"
    assert [r["run_id"] for r in fitted["runs"]] == ["00-in256", "01-in1024", "02-in2048",
                                                     "c-8", "c-32"]  # fmt: skip


def test_an_unwritable_out_is_one_clear_error(tmp_path: Path) -> None:
    runs = [write_run(tmp_path / f"in-{n}", [0.0, 10.0], n, 1) for n in (256, 1024, 2048)]
    runs += [write_run(tmp_path / f"c-{b}", [0.0] * b, 512, b) for b in (8, 32)]
    out = tmp_path / "missing" / "f.json"
    result = CliRunner().invoke(app, ["sim", "calibrate", *map(str, runs), "--out", str(out)])
    assert isinstance(result.exception, ConfigError)
    assert result.exception.where == "--out"
