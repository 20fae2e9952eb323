"""The mixed long-prefill + decodes run in calibration, over HTTP: `llmbench run --sim-preset
cloud-warm` (the served twin, started by the run itself) measures an input-length sweep, a
concurrency sweep and a closed loop of mostly short decoding requests with occasional long
prompts (`--input-mix 128:0.9,2048:0.1`); `sim calibrate` fits on the sweeps and validates the
mixed run in its own row. Passed as a calibration run, the mixed run gives no decode sample.

Tolerance: mean ITL and E2E within 15 % (the fixed-length round trip's 10 %, plus the order
in which a closed loop's long prompts meet the decoders, which the replay re-derives from its
own step times); mean TTFT within 35 %: a short prompt's TTFT is mostly its wait behind a long
prefill, so it carries the fit's prefill error and the host's lateness in the low-load TTFT
samples (measured +9.6 % at load average 3, +27 % at 5.7 on the shared 2-core host; the true
preset predicts this run within 7 %).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.cli import llmbench

TWIN = ["--sim-preset", "cloud-warm"]


def measure(out: Path, *args: str) -> Path:
    result = llmbench("run", *TWIN, "--output-dir", str(out), *args, timeout=90)
    assert result.returncode == 0, result.stderr[-2000:]
    return out


@pytest.mark.timeout(120)
def test_a_mixed_run_is_validated_in_its_own_row(tmp_path: Path) -> None:
    lengths = measure(
        tmp_path / "input-sweep",
        "--profile", "input-sweep", "--input-tokens", "256,1024,2048", "--concurrency", "1",
        "--output-tokens", "8", "--requests", "4", "--warmup", "1",
    )  # fmt: skip
    batches = measure(
        tmp_path / "concurrency-sweep",
        "--profile", "concurrency-sweep", "--concurrency", "2,8", "--input-tokens", "128",
        "--output-tokens", "64", "--requests", "8",
    )  # fmt: skip
    mixed = measure(
        tmp_path / "mixed",
        "--concurrency", "4", "--input-mix", "128:0.9,2048:0.1", "--output-tokens", "32",
        "--requests", "40", "--seed", "3",
    )  # fmt: skip
    records = [json.loads(line) for line in (mixed / "records.jsonl").read_text().splitlines()]
    prompts = [r["input_tokens"] for r in records]
    assert set(prompts) == {128, 2048}  # both lengths were sent, each recorded as sent
    out = tmp_path / "fitted.json"
    result = llmbench(
        "sim", "calibrate", str(lengths), str(batches), str(mixed), "--out", str(out),
        "--validate", str(mixed),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "mixed" in result.stdout
    fitted = json.loads(out.read_text())["fitted"]
    assert any("varied lengths" in note for note in fitted["notes"])
    (row,) = fitted["validation"]["runs"]
    assert row["mixed"] is True
    levels = fitted["validation"]["by_load_level"]
    assert list(levels) == ["mixed"]
    for metric, tolerance in (("ttft_ms.mean", 0.35), ("itl_ms.mean", 0.15), ("e2e_ms.mean", 0.15)):
        assert abs(row["relative_error"][metric]) < tolerance, (metric, row)
    assert levels["mixed"]["runs"] == 1.0
