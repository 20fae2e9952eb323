"""Where transformers serve's generation thread spent each 20 s window, beside the ITL of the
requests sent in it: reads scripts/gpu_validation.sh's PROFILE=1 output (results/pyspy/<unix
time>.txt, py-spy's collapsed stacks with --threads --idle) and the runs' records.

Per window: the runs it overlaps, the median per-request mean ITL of the requests sent in it,
and the generation thread's samples split by what its stack was doing: `idle` (waiting for work:
Event.wait in the generation loop), `gpu_wait` (Stream.synchronize: the host waits for the
GPU), `forward` (inside the model's forward: Python launching the kernels one by one),
`prepare` (building the next batch), `other`. The shares are of that thread's samples. With
PROFILE=1 PROBE=1 also the host's CPU in the window (results/cpu_probe.txt,
scripts/gpu/cpu_probe.py): the median speed of a fixed Python loop (million iterations/s) and
the mean steal share.

    python3 scripts/gpu/pyspy_windows.py RESULTS_DIR [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
from datetime import datetime
from pathlib import Path
from typing import Any

PARTS = ("idle", "gpu_wait", "forward", "prepare", "other")
GENERATION_THREAD = "_run_generation_loop"


def part(stack: str) -> str:
    if "Stream.synchronize" in stack:
        return "gpu_wait"
    if "prepare_next_batch" in stack:
        return "prepare"
    if ".forward (" in stack:
        return "forward"
    if "_generation_loop_body" in stack and "Event.wait" in stack:
        return "idle"
    return "other"


def window(path: Path) -> dict[str, int]:
    counts = dict.fromkeys(PARTS, 0)
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if GENERATION_THREAD in stack:
            counts[part(stack)] += int(n)
    return counts


def requests(results: Path) -> tuple[list[tuple[float, float, str]], list[tuple[float, str]]]:
    """(wall time sent, mean gap ms, run) of every ok request; (wall start, run) of each run."""
    out, starts = [], []
    for run_json in results.rglob("run.json"):
        run = json.loads(run_json.read_text())
        wall0 = datetime.fromisoformat(run["started_at"]).timestamp()
        mono0 = (run.get("clock") or {}).get("monotonic_ns_at_start")
        name = run_json.parent.name
        starts.append((wall0, name))
        for line in (run_json.parent / "records.jsonl").read_text().splitlines():
            r = json.loads(line)
            gaps = r.get("chunk_offsets_ns") or []
            if r["status"] != "ok" or len(gaps) < 2 or mono0 is None:
                continue
            sent = wall0 + (r["sent_ns"] - mono0) / 1e9
            out.append((sent, (gaps[-1] - gaps[0]) / (len(gaps) - 1) / 1e6, name))
    return out, sorted(starts)


def probe(results: Path) -> list[tuple[float, float, float]]:
    path = results / "cpu_probe.txt"
    if not path.exists():
        return []
    rows = (line.split() for line in path.read_text().splitlines())
    return [(float(t), float(rate), float(steal)) for t, rate, steal in rows]


def host_cells(probes: list[tuple[float, float, float]], begin: int) -> dict[str, Any]:
    inside = [(rate, steal) for t, rate, steal in probes if begin <= t < begin + 20]
    if not inside:
        return {"probe_mloops_s": None, "steal": None}
    return {
        "probe_mloops_s": statistics.median(r for r, _ in inside) / 1e6,
        "steal": statistics.fmean(s for _, s in inside),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sent, starts = requests(args.results)
    probes = probe(args.results)
    t0 = starts[0][0]
    rows: list[dict[str, Any]] = []
    for path in sorted((args.results / "pyspy").glob("[0-9]*.txt")):
        begin = int(path.stem)
        counts = window(path)
        total = sum(counts.values()) or 1
        inside = [(gap, run) for t, gap, run in sent if begin <= t < begin + 20]
        rows.append({
            "t_s": begin - t0,
            "runs": sorted({run for _, run in inside}),
            "requests": len(inside),
            "itl_median_ms": statistics.median(g for g, _ in inside) if inside else None,
            **{p: counts[p] / total for p in PARTS},
            "samples": total,
            **host_cells(probes, begin),
        })  # fmt: skip
    print(
        "| t (s) | requests sent | ITL median ms | "
        + " | ".join(PARTS)
        + " | loop M/s | steal | runs |"
    )
    print("|---:|---:|---:|" + "---:|" * (len(PARTS) + 2) + "---|")
    for row in rows:
        itl = "–" if row["itl_median_ms"] is None else f"{row['itl_median_ms']:.1f}"
        shares = " | ".join(f"{row[p]:.0%}" for p in PARTS)
        runs = ", ".join(r.split("-", 2)[-1] for r in row["runs"])
        host = "– | –"
        if row["probe_mloops_s"] is not None:
            host = f"{row['probe_mloops_s']:.2f} | {row['steal']:.1%}"
        print(f"| {row['t_s']:.0f} | {row['requests']} | {itl} | {shares} | {host} | {runs} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
