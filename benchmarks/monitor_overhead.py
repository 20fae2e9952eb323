"""Monitor overhead: client CPU of `llmbench run` at concurrency 64 against the embedded simulator
with the monitors and server-metrics scraping on (the default) and off (`--no-monitors
--server-metrics off`), alternated `--repeats` times; plus the CPU cost of one process/host
sample and one scrape of the simulator's /metrics, measured in a loop (the per-second cost at
the 1 s default intervals). Goal: under 2 % of one core.

    python benchmarks/monitor_overhead.py [--seconds 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from llmbench.clients.scrape import MetricsSource
from llmbench.config import SimSpec
from llmbench.monitor.processes import ProcessMonitor
from llmbench.monitor.server_metrics import parse_scrape, totals
from llmbench.run.target import EmbeddedSim

LOAD = ["--concurrency", "64", "--requests", "1000000", "--sim-ttft-ms", "20", "--sim-itl-ms",
        "10", "--output-tokens", "64", "--sim-preset", "cloud-warm"]  # fmt: skip
OFF = ["--no-monitors", "--server-metrics", "off"]


def run_once(seconds: float, extra: list[str]) -> float:
    """Client CPU (fraction of one core) over the load phase of one run."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        args = [sys.executable, "-m", "llmbench", "run", *LOAD, "--duration", str(seconds)]
        subprocess.run([*args, *extra, "--output-dir", str(out)], check=True,
                       capture_output=True)  # fmt: skip
        run = json.loads((out / "run.json").read_text())
    return float(run["workers"]["cpu_s_load"]) / float(run["summary"]["duration_s"])


def per_sample_cost(n: int) -> tuple[float, float]:
    """CPU seconds of one monitor sample and of one /metrics scrape + parse (the simulator's)."""
    with EmbeddedSim(SimSpec(preset="cloud-warm")) as sim:
        monitor = ProcessMonitor(interval_s=1.0, target_pid=sim.pid, series_path=None)
        monitor.sample()
        before = time.process_time()
        for _ in range(n):
            monitor.sample()
        sample_s = (time.process_time() - before) / n
        monitor.gpus.close()

        async def scrapes() -> float:
            async with MetricsSource(sim.base_url + "/metrics") as source:
                await source.get()
                start = time.process_time()
                for _ in range(n):
                    totals(parse_scrape(await source.get()))
                return (time.process_time() - start) / n

        scrape_s = asyncio.run(scrapes())
    return sample_s, scrape_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    sample_s, scrape_s = per_sample_cost(args.samples)
    print(f"one process/host sample: {sample_s * 1e3:.3f} ms CPU; one scrape+parse of the "
          f"simulator's /metrics: {scrape_s * 1e3:.3f} ms CPU")  # fmt: skip
    print(f"at 1 s intervals: {100 * (sample_s + scrape_s):.3f} % of one core")
    on, off = [], []
    for _ in range(args.repeats):
        on.append(run_once(args.seconds, []))
        off.append(run_once(args.seconds, OFF))
    print("| monitors | client CPU (% of a core), per repeat | median |")
    print("|---|---|---|")
    for label, values in (("on", on), ("off", off)):
        cells = ", ".join(f"{100 * v:.1f}" for v in values)
        print(f"| {label} | {cells} | {100 * statistics.median(values):.1f} |")
    print(f"difference of medians: {100 * (statistics.median(on) - statistics.median(off)):.2f} "
          "% of a core (noisy: the load itself varies by more than the monitors cost)")  # fmt: skip


if __name__ == "__main__":
    main()
