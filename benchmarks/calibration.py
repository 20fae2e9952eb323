"""Calibration accuracy over HTTP: a served twin of a known preset A (server on CPU 1) measured by
`llmbench run` (client on CPU 0): input-length sweep and 50/100 % cached-prefix runs at
concurrency 1, a concurrency sweep up to saturation; `sim calibrate` (roofline and polynomial
fallback) validated on Poisson loads at 25/50/85 % of the measured capacity, prompts of a length
not in the sweep, and on a mixed run (closed loop of mostly short decoding requests with 10 %
4096-token prompts). Prints each repeat's table and the median |error| per metric and row.

    python benchmarks/calibration.py [--repeats 3] [--validation-requests 60]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from llmbench.config import SimSpec
from llmbench.run.target import EmbeddedSim

# Preset A: cloud-warm's 8B model with other efficiencies and overheads, 16 sequences at most
# (so the concurrency sweep reaches saturation), prefix cache from the first whole block.
PRESET_A = {
    "hardware.compute_efficiency": 0.35,
    "hardware.memory_efficiency": 0.6,
    "engine.step_overhead_s": 0.003,
    "engine.request_overhead_s": 0.02,
    "engine.max_seqs": 16,
    "engine.min_cacheable_tokens": 0,
}
LEVELS = (0.25, 0.5, 0.85)
KEYS = ("ttft_ms.mean", "ttft_ms.p95", "itl_ms.mean", "itl_ms.p95", "e2e_ms.mean", "e2e_ms.p95")
CLIENT_CPU = ["taskset", "-c", "0"] if len(os.sched_getaffinity(0)) > 1 else []


def llmbench(*args: str) -> str:
    command = [*CLIENT_CPU, sys.executable, "-m", "llmbench", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:3])} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def run(url: str, out: Path, *args: str) -> Path:
    llmbench("run", "--base-url", url, "--output-dir", str(out), *args)
    return out


def measure_calibration(url: str, root: Path, seed: int) -> list[Path]:
    # A new seed per repeat: the twin's prefix cache still holds the last repeat's prompts.
    common = ["--concurrency", "1", "--output-tokens", "16", "--requests", "8", "--warmup", "1"]
    common += ["--seed", str(seed)]
    lengths = run(url, root / "input-sweep", "--profile", "input-sweep",
                  "--input-tokens", "128,512,1024,2048", *common)  # fmt: skip
    half = run(url, root / "prefix-50", "--input-tokens", "1024", "--prefix-tokens", "512",
               *common)  # fmt: skip
    full = run(url, root / "prefix-100", "--input-tokens", "1024", "--prefix-tokens", "1024",
               *common)  # fmt: skip
    batches = run(url, root / "concurrency-sweep", "--profile", "concurrency-sweep",
                  "--concurrency", "4,8,16,32", "--input-tokens", "256", "--output-tokens",
                  "128", "--requests", "32", "--seed", str(seed))  # fmt: skip
    return [lengths, half, full, batches]


def capacity_of(sweep: Path) -> float:
    steps = json.loads((sweep / "study.json").read_text())["steps"]
    return max(float(step["requests_per_s"]) for step in steps)


def measure_validation(
    url: str, root: Path, capacity: float, requests: int, seed: int
) -> list[Path]:
    out = []
    for k, level in enumerate(LEVELS):
        args = ["--profile", "poisson", "--rate", f"{level * capacity:.4f}"]
        args += ["--input-tokens", "768", "--output-tokens", "128"]
        # Distinct prompts per level: the twin's prefix cache would serve a reused one.
        args += ["--requests", str(requests), "--seed", str(seed + k)]
        out.append(run(url, root / f"poisson-{level:.0%}", *args))
    # The mixed long-prefill + decodes run: long prompts stall the short ones' decodes.
    args = ["--concurrency", "8", "--input-mix", "128:0.9,4096:0.1", "--output-tokens", "128"]
    args += ["--requests", str(requests), "--seed", str(seed + len(LEVELS))]
    out.append(run(url, root / "mixed", *args))
    return out


def calibrate(root: Path, runs: list[Path], checks: list[Path], shape: str) -> dict[str, Any]:
    out = root / f"fitted-{shape}.json"
    args = ["sim", "calibrate", *map(str, runs), "--out", str(out), "--shape", shape]
    args += ["--engine-name", "llmbench-sim twin (preset A)", "--gpu", "none (simulated)"]
    # The engine's configuration is known to whoever runs it; only its timing is fitted.
    for key in ("engine.max_seqs", "engine.min_cacheable_tokens"):
        args += ["--set", f"{key}={PRESET_A[key]}"]
    for check in checks:
        args += ["--validate", str(check)]
    print(llmbench(*args))
    fitted: dict[str, Any] = json.loads(out.read_text())["fitted"]
    return fitted


def repeat(url: str, requests: int, seed: int) -> dict[str, dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="llmbench-calibration-") as tmp:
        root = Path(tmp)
        runs = measure_calibration(url, root, seed)
        capacity = capacity_of(runs[-1])
        print(f"measured capacity {capacity:.2f} requests/s (top of the concurrency sweep)")
        checks = measure_validation(url, root, capacity, requests, 1000 + 10 * seed)
        return {shape: calibrate(root, runs, checks, shape) for shape in ("known", "unknown")}


def summary(results: list[dict[str, dict[str, Any]]]) -> None:
    print("\nmedian over repeats of |predicted / measured − 1| (validation runs)")
    print(f"{'shape':<8} {'load':>5} | " + " ".join(f"{k:>12}" for k in KEYS))
    for shape in ("known", "unknown"):
        levels = [r[shape]["validation"]["by_load_level"] for r in results]
        for level in (*(f"{x:.0%}" for x in LEVELS), "mixed"):
            cells = []
            for key in KEYS:
                values = [lv[level][key] for lv in levels if lv.get(level, {}).get(key) is not None]
                cells.append(f"{statistics.median(values):>12.1%}" if values else f"{'–':>12}")
            print(f"{shape:<8} {level:>5} | " + " ".join(cells))
    for shape in ("known", "unknown"):
        fit = [r[shape]["mean_abs_relative_error"] for r in results]
        print(
            f"{shape}: error on its own samples, median: TTFT "
            f"{statistics.median(f['ttft'] for f in fit):.1%}, decode step "
            f"{statistics.median(f['itl'] for f in fit):.1%}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--validation-requests", type=int, default=60)
    args = parser.parse_args()
    extra = ["--preset", "cloud-warm"]
    for key, value in PRESET_A.items():
        extra += ["--set", f"{key}={value}"]
    print(f"preset A: cloud-warm with {PRESET_A}; load average {os.getloadavg()}")
    results = []
    with EmbeddedSim(SimSpec(), extra_args=extra) as sim:
        if sim.pid is not None and CLIENT_CPU:
            os.sched_setaffinity(sim.pid, {1})
        for k in range(args.repeats):
            print(f"--- repeat {k + 1} of {args.repeats}")
            results.append(repeat(sim.base_url, args.validation_requests, seed=k))
    summary(results)
    print(f"load average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
