"""How fast this machine's CPU runs a fixed Python loop, once a second, and the share of CPU
time the hypervisor took (steal, from /proc/stat): was a slow phase of the server the host's
CPU? One line a second: unix time, loop iterations per second, steal share, until killed.

    python3 scripts/gpu/cpu_probe.py OUT.txt
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def cpu_times() -> list[int]:
    with Path("/proc/stat").open() as stat:
        return [int(v) for v in stat.readline().split()[1:]]


def main() -> None:
    previous = cpu_times()
    with Path(sys.argv[1]).open("w") as out:
        while True:
            started, n = time.time(), 0
            end = time.perf_counter() + 0.2
            while time.perf_counter() < end:  # 200 ms of a busy loop: its speed is the CPU's
                n += 1
            time.sleep(0.8)
            now = cpu_times()
            delta = [b - a for a, b in zip(previous, now, strict=True)]
            previous = now
            steal = delta[7] / sum(delta) if len(delta) > 7 and sum(delta) else 0.0
            print(f"{started:.3f} {n / 0.2:.0f} {steal:.5f}", file=out, flush=True)


if __name__ == "__main__":
    main()
