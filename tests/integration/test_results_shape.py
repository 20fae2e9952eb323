"""What the writer produces today has the shape of the files llmbench wrote before the typed
model (tests/golden/results-v1/b2a60c3/, as the v1 → v2 upgrade writes them in results-v2/):
the same keys in the same order at every level, and it reads back into an equal model."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from llmbench.cli.main import app
from llmbench.config import RunSpec
from llmbench.run.execute import Target, execute_run
from llmbench.store.results import read_run_file
from support.runs import GOLDEN_V1, GOLDEN_V2

StartSim = Callable[..., str]


def key_paths(value: Any, at: str = "") -> list[str]:
    """Every key path in document order; a list contributes its first element's keys."""
    if isinstance(value, dict):
        out = []
        for key, inner in value.items():
            out += [f"{at}.{key}", *key_paths(inner, f"{at}.{key}")]
        return out
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return key_paths(value[0], f"{at}[]")
    return []


def test_a_new_run_json_has_the_keys_and_order_of_the_earlier_files(
    start_sim: StartSim, tmp_path: Path
) -> None:
    base_url = start_sim(ttft_ms=20.0, itl_ms=2.0)
    spec = RunSpec.model_validate(
        {
            "load": {"profile": "poisson", "rate": 20.0, "requests": 24, "max_concurrency": 8},
            "workload": {"input_tokens": 16, "output_tokens": 8},
            "slo": {"ttft_ms": 500, "tpot_ms": 50},
        }
    )
    out = tmp_path / "run"
    run = asyncio.run(execute_run(spec, Target(base_url), out))
    written = json.loads((out / "run.json").read_text())
    golden = json.loads((GOLDEN_V2 / "b2a60c3" / "open-slo" / "run.json").read_text())
    # Differ by design: the embedded simulator's settings and engine (this run is given a URL),
    # the spec's sources (null: this run is not started from the command line), and the spec
    # (an upgraded one keeps the fields the old spec had; a new one has every field, in the
    # model's order: checked below).
    unset = (".target.embedded_sim.", ".target.engine.", ".spec_source.", ".spec.")
    # Optional keys added since those files were written (older files lack them), in their
    # places: signed loop lag, --retry-429's delivery block, what the target was doing and
    # what made the prompts (after `target.engine`, and the blocks after `goodput`), request
    # body sizes and images/s (last in `summary`).
    added = (".delivery.retries", ".client.loop_lag_ms.min", ".client.loop_lag_ms.early",
             ".target.environment", ".target.prompts", ".server_metrics", ".monitors", ".cache",
             ".decomposition", ".summary.payload_bytes", ".summary.images_per_s")  # fmt: skip
    kept = [p for p in key_paths(written) if not p.startswith(unset + added)]
    assert kept == [p for p in key_paths(golden) if not p.startswith(unset)]
    assert key_paths(written["spec"]) == key_paths(spec.model_dump(mode="json"))
    assert list(written)[-4:] == ["server_metrics", "monitors", "cache", "decomposition"]
    assert read_run_file(out / "run.json") == run


def _report(directory: Path) -> str:
    result = CliRunner().invoke(app, ["report", str(directory)])
    assert result.exit_code == 0, result.output
    return result.output


def test_report_of_a_killed_run_recomputes_the_summary_from_its_records(tmp_path: Path) -> None:
    """run.json as written at start (no summary) beside the records: the typed run gives the
    header, the records the statistics."""
    directory = tmp_path / "killed"
    directory.mkdir()
    shutil.copy(GOLDEN_V1 / "running" / "run.json", directory / "run.json")
    shutil.copy(GOLDEN_V1 / "closed" / "records.jsonl", directory / "records.jsonl")
    text = _report(directory)
    assert "[incomplete]" in text
    assert "recomputed from records.jsonl" in text
    assert "ok 24, errors 0" in text


def test_report_without_run_json_still_shows_the_records(tmp_path: Path) -> None:
    directory = tmp_path / "bare"
    directory.mkdir()
    shutil.copy(GOLDEN_V1 / "closed" / "records.jsonl", directory / "records.jsonl")
    text = _report(directory)
    assert "run ?  [incomplete]" in text
    assert "run.json is missing" in text
    assert "ok 24, errors 0" in text
