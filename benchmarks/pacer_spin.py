"""The open-loop pacer alone: how late `pace_until` returns, by how long it spins before a deadline.

No requests, no server: N deadlines `--interval-ms` apart, each awaited with `pace_until` on
llmbench's event loop (uvloop where installed), lag = the clock on return − the deadline. One
row per spin length (0 = timer only; llmbench's default is `open_loop.SPIN_NS`, 2 ms), and with
`--blocking` a row for a plain blocking `time.sleep` to each deadline (no event loop: what a
pacer blocking on a precise timer would get). `--hogs K` runs K busy-looping processes
meanwhile (the host under load); `--repeat N` runs every mode N times, interleaved, and prints
the medians and ranges. P99 is `–` below 100 deadlines (llmbench's gate).

    python benchmarks/pacer_spin.py [--deadlines 300] [--interval-ms 5] [--spins-ms 0,0.5,1,2]
        [--blocking] [--hogs 0] [--late-ms 0.5] [--repeat 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator

import numpy as np

from llmbench.engine.loop import loop_factory, loop_name
from llmbench.engine.open_loop import SPIN_NS, pace_until
from llmbench.metrics.stats import percentiles

BLOCKING = "blocking"


async def paced_lags_ns(deadlines: int, interval_ns: int, spin_ns: int) -> list[int]:
    clock = time.monotonic_ns
    start = clock() + interval_ns
    lags = []
    for i in range(deadlines):
        deadline = start + i * interval_ns
        await pace_until(deadline, clock, spin_ns)
        lags.append(clock() - deadline)
    return lags


def blocking_lags_ns(deadlines: int, interval_ns: int) -> list[int]:
    start = time.monotonic_ns() + interval_ns
    lags = []
    for i in range(deadlines):
        deadline = start + i * interval_ns
        remaining = deadline - time.monotonic_ns()
        if remaining > 0:
            time.sleep(remaining / 1e9)
        lags.append(time.monotonic_ns() - deadline)
    return lags


def one_run(mode: str, args: argparse.Namespace) -> dict[str, float | None]:
    interval_ns = int(args.interval_ms * 1e6)
    if mode == BLOCKING:
        lags = blocking_lags_ns(args.deadlines, interval_ns)
    else:
        spin_ns = int(float(mode) * 1e6)
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            lags = runner.run(paced_lags_ns(args.deadlines, interval_ns, spin_ns))
    lag_ms = np.asarray(lags, dtype=np.float64) / 1e6
    return {
        **percentiles(lag_ms, (50, 99)),
        "max": float(lag_ms.max()),
        "late": float(np.count_nonzero(lag_ms > args.late_ms)),
    }


@contextlib.contextmanager
def hogs(count: int) -> Iterator[None]:
    """`count` processes spinning on a CPU each, stopped (by their handles) at the end."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=10)


def fmt(value: float | None, spec: str = ".3f") -> str:
    return "–" if value is None else format(value, spec)


def summary(values: list[float | None], spec: str = ".3f") -> str:
    """Median, and the range over repeats when there are several."""
    present = [v for v in values if v is not None]
    if not present:
        return "–"
    median = fmt(statistics.median(present), spec)
    if len(present) == 1:
        return median
    return f"{median} ({fmt(min(present), spec)}–{fmt(max(present), spec)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deadlines", type=int, default=300)
    parser.add_argument("--interval-ms", type=float, default=5.0)
    parser.add_argument("--spins-ms", default=f"0,0.5,1,{SPIN_NS / 1e6:g}")
    parser.add_argument("--blocking", action="store_true", help="add a blocking-sleep row")
    parser.add_argument("--hogs", type=int, default=0, help="busy processes during the runs")
    parser.add_argument("--late-ms", type=float, default=0.5, help="count deadlines later")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    modes = args.spins_ms.split(",") + ([BLOCKING] if args.blocking else [])
    runs: dict[str, list[dict[str, float | None]]] = {mode: [] for mode in modes}
    with hogs(args.hogs):
        for _ in range(args.repeat):
            for mode in modes:  # interleaved, so every mode sees the same host
                runs[mode].append(one_run(mode, args))
    print(
        f"pacer alone: {args.deadlines} deadlines {args.interval_ms:g} ms apart, {loop_name()}, "
        f"{args.hogs} CPU hogs; lag = return − deadline (ms); median (range) of {args.repeat}"
    )
    print(f"P99 –: fewer than 100 deadlines; late: deadlines more than {args.late_ms:g} ms late")
    head = f"{'spin ms':>8} | {'P50':>22} | {'P99':>22} | {'max':>22} | {'late':>12}"
    print(head)
    print("-" * len(head))
    for mode, results in runs.items():
        cells = [summary([r[k] for r in results]) for k in ("p50", "p99", "max")]
        late = summary([r["late"] for r in results], ".0f")
        print(f"{mode:>8} | {cells[0]:>22} | {cells[1]:>22} | {cells[2]:>22} | {late:>12}")


if __name__ == "__main__":
    main()
