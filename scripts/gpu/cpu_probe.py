"""How fast this machine's CPU runs a fixed Python loop, once a second, and the share of CPU
time the hypervisor took (steal, from /proc/stat): was a slow phase of the server the host's
CPU? One line a second: unix time, loop iterations per second, steal share, until killed.

    python3 scripts/gpu/cpu_probe.py OUT.txt
    python3 scripts/gpu/cpu_probe.py --compare RESULTS_DIR   # afterwards, here (needs scipy)

--compare: every ok c=1 request of the runs under RESULTS_DIR (which holds cpu_probe.txt),
its mean inter-chunk gap against the probe's mean speed over its decode (±0.5 s): Spearman's
rank correlation, and the probe's median speed under slow (> 45 ms) and fast (< 35 ms) requests.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path


def cpu_times() -> list[int]:
    with Path("/proc/stat").open() as stat:
        return [int(v) for v in stat.readline().split()[1:]]


def c1_requests(results: Path) -> list[tuple[float, float, float]]:
    """(decode start, decode end, mean gap ms) of every ok request of the c=1 runs, wall time."""
    out = []
    for run_json in results.rglob("run.json"):
        run = json.loads(run_json.read_text())
        if run["spec"]["load"].get("concurrency") != 1:
            continue
        wall0 = datetime.fromisoformat(run["started_at"]).timestamp()
        mono0 = run["clock"]["monotonic_ns_at_start"]
        for line in (run_json.parent / "records.jsonl").read_text().splitlines():
            r = json.loads(line)
            gaps = r["chunk_offsets_ns"]
            if r["status"] == "ok" and len(gaps) >= 2:
                sent = wall0 + (r["sent_ns"] - mono0) / 1e9
                itl = (gaps[-1] - gaps[0]) / (len(gaps) - 1) / 1e6
                out.append((sent + gaps[0] / 1e9, sent + gaps[-1] / 1e9, itl))
    return out


def compare(results: Path) -> None:
    from scipy.stats import spearmanr

    lines = (results / "cpu_probe.txt").read_text().splitlines()
    rows = [line.split() for line in lines]
    probe = [(float(t), float(rate) / 1e6) for t, rate, _ in rows]
    rates = [rate for _, rate in probe]
    print(
        f"probe: {len(rows)} seconds, loop {min(rates):.2f} / {statistics.median(rates):.2f} / "
        f"{max(rates):.2f} M/s (min / median / max), steal at most "
        f"{max(float(r[2]) for r in rows):.2%}"
    )
    points = []
    for begin, end, itl in c1_requests(results):
        speeds = [rate for t, rate in probe if begin - 0.5 <= t <= end + 0.5]
        if speeds:
            points.append((itl, statistics.fmean(speeds)))
    rho = spearmanr([p[0] for p in points], [p[1] for p in points])
    print(f"{len(points)} c=1 requests: Spearman rho {rho.statistic:+.3f} (p {rho.pvalue:.3f})")
    for label, keep in (("slow (> 45 ms)", lambda g: g > 45), ("fast (< 35 ms)", lambda g: g < 35)):
        speeds = [s for g, s in points if keep(g)]
        if speeds:
            median = statistics.median(speeds)
            print(f"{label}: {len(speeds)} requests, probe median {median:.2f} M/s")


def main() -> None:
    if sys.argv[1] == "--compare":
        compare(Path(sys.argv[2]))
        return
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
