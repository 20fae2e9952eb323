"""How often the host takes a CPU away from a process that wants it: a pinned process spins
on `time.monotonic_ns()` and records every gap longer than a threshold (a "hiccup meter").

A server on that CPU cannot be more punctual than this: a deadline that falls in a gap is late
by the rest of the gap. On a shared VM the gaps come from the hypervisor (steal time) and from
other tasks scheduled onto the CPU; `--isolate` moves the latter away (cpu_isolation.py).

    python benchmarks/hiccups.py [--cpu 1] [--seconds 10] [--isolate] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from cpu_isolation import cpu_kept_for

THRESHOLD_NS = 50_000


def spin(seconds: float) -> np.ndarray:
    """Gaps (ns) longer than THRESHOLD_NS between consecutive clock reads."""
    gaps: list[int] = []
    now = time.monotonic_ns
    end = now() + int(seconds * 1e9)
    last = now()
    while last < end:
        t = now()
        if t - last > THRESHOLD_NS:
            gaps.append(t - last)
        last = t
    return np.array(gaps, dtype=np.int64)


def steal_ticks(cpu: int) -> int:
    with Path("/proc/stat").open() as stat:
        for line in stat:
            if line.startswith(f"cpu{cpu} "):
                return int(line.split()[8])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--isolate", action="store_true")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.cpu})
    ticks_per_s = os.sysconf("SC_CLK_TCK")
    print(
        f"CPU {args.cpu}, {args.seconds:g} s per run, gaps > {THRESHOLD_NS / 1e3:g} µs"
        f"{', other tasks moved off it' if args.isolate else ''}"
    )
    print("run | gaps/s | lost % | lost in gaps > 1 ms % | P99.9 time-weighted | max  | steal %")
    for run in range(args.repeats):
        steal0 = steal_ticks(args.cpu)
        if args.isolate:
            with cpu_kept_for(args.cpu):
                gaps = spin(args.seconds)
        else:
            gaps = spin(args.seconds)
        steal_pct = 100 * (steal_ticks(args.cpu) - steal0) / ticks_per_s / args.seconds
        total_ns = args.seconds * 1e9
        lost = gaps.sum() / total_ns * 100
        lost_1ms = gaps[gaps > 1_000_000].sum() / total_ns * 100
        # A deadline at a uniformly random time is late by more than X with probability
        # sum(max(gap - X, 0)) / total: the 99.9th percentile of that lateness.
        ordered = np.sort(gaps)[::-1]
        p999 = 0.0
        for x in ordered:
            if np.clip(gaps - x, 0, None).sum() / total_ns >= 0.001:
                p999 = x / 1e6
                break
        longest_ms = gaps.max() / 1e6 if len(gaps) else 0.0
        print(
            f"{run + 1:>3} | {len(gaps) / args.seconds:>6.0f} | {lost:>6.2f} | {lost_1ms:>21.2f} |"
            f" {p999:>16.2f} ms | {longest_ms:>4.1f} ms | {steal_pct:>6.2f}"
        )


if __name__ == "__main__":
    main()
