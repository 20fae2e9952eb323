"""Which ITL "mode" each run ran in: per request, its mean inter-chunk gap ((last chunk − first
chunk) / (chunks − 1), the request's mean ITL), over time. transformers serve 5.17 switched
between a fast and a slow decode speed for minutes at a time in calls 1-4
(docs/real-engines.md); this reads llmbench's records to show where each run fell.

Per run, in the order they ran: its concurrency and prompt length, the requests (warm-up
included: they decode in the same mode), the median of the per-request mean ITLs and its
P10-P90, the time series of that median in BIN-second bins (`t→ms`: the bin's start in seconds,
the median), and `ratio`: the run's median over the lowest run median at the same (concurrency,
prompt length) among all runs given, so two calls' runs can be set side by side ("–" where a
(concurrency, length) ran once). Times are seconds since the first request of all the runs
given (one machine's monotonic clock: give runs of one call together, or one call at a time).

    python3 scripts/gpu/itl_modes.py DIR... [--bin 10] [--json OUT.json] [--png OUT.png]

DIR: a study directory, a results directory, or a run directory (any folder holding
records.jsonl and run.json is a run).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any


def request_itls(run_dir: Path) -> list[tuple[int, float]]:
    """(sent_ns, mean gap ms) of every ok request with two or more token-bearing chunks."""
    out = []
    with (run_dir / "records.jsonl").open() as lines:
        for line in lines:
            record = json.loads(line)
            offsets = record.get("chunk_offsets_ns") or []
            if record.get("status") == "ok" and len(offsets) >= 2:
                gap_ms = (offsets[-1] - offsets[0]) / (len(offsets) - 1) / 1e6
                out.append((record["sent_ns"], gap_ms))
    return sorted(out)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_entry(run_dir: Path) -> dict[str, Any] | None:
    itls = request_itls(run_dir)
    if not itls:
        return None
    spec = json.loads((run_dir / "run.json").read_text())["spec"]
    load, workload = spec["load"], spec["workload"]
    sessions = workload.get("sessions")
    gaps = [gap for _, gap in itls]
    return {
        "run": run_dir.name,
        "concurrency": load.get("concurrency") or load.get("max_concurrency"),
        "input_tokens": workload["input_tokens"],
        "sessions": sessions,
        "requests": len(itls),
        "first_sent_ns": itls[0][0],
        "itl_median_ms": statistics.median(gaps),
        "itl_p10_ms": quantile(gaps, 0.1),
        "itl_p90_ms": quantile(gaps, 0.9),
        "per_request": itls,
    }


def find_runs(paths: list[Path]) -> list[dict[str, Any]]:
    dirs = {p.parent for path in paths for p in path.rglob("records.jsonl")}
    entries = [e for d in dirs if (d / "run.json").exists() and (e := run_entry(d))]
    return sorted(entries, key=lambda e: e["first_sent_ns"])


def add_series_and_ratios(runs: list[dict[str, Any]], bin_s: float) -> None:
    start = min(r["first_sent_ns"] for r in runs)
    lowest: dict[tuple[Any, Any], list[float]] = {}
    for run in runs:
        key = (run["concurrency"], run["input_tokens"], run["sessions"])
        lowest.setdefault(key, []).append(run["itl_median_ms"])
        bins: dict[int, list[float]] = {}
        for sent_ns, gap in run["per_request"]:
            bins.setdefault(int((sent_ns - start) / 1e9 // bin_s), []).append(gap)
        run["t_s"] = (run["first_sent_ns"] - start) / 1e9
        run["series"] = [(b * bin_s, statistics.median(g), len(g)) for b, g in sorted(bins.items())]
        run["per_request"] = [((s - start) / 1e9, g) for s, g in run["per_request"]]
    for run in runs:
        medians = lowest[(run["concurrency"], run["input_tokens"], run["sessions"])]
        run["ratio"] = run["itl_median_ms"] / min(medians) if len(medians) > 1 else None


def table(runs: list[dict[str, Any]]) -> str:
    head = "| run | t (s) | c | prompt | n | ITL median (P10-P90) ms | ratio | series |"
    lines = [head, "|---|---:|---:|---:|---:|---|---:|---|"]
    for r in runs:
        prompt = f"{r['input_tokens']}" + (f" ×{r['sessions']}s" if r["sessions"] else "")
        ratio = "–" if r["ratio"] is None else f"{r['ratio']:.2f}"
        series = ", ".join(f"{t:.0f}→{m:.0f}" for t, m, _ in r["series"])
        lines.append(
            f"| {r['run']} | {r['t_s']:.0f} | {r['concurrency']} | {prompt} | {r['requests']} | "
            f"{r['itl_median_ms']:.1f} ({r['itl_p10_ms']:.1f}-{r['itl_p90_ms']:.1f}) | {ratio} | "
            f"{series} |"
        )
    return "\n".join(lines)


def plot(runs: list[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=100)
    levels = sorted({r["concurrency"] for r in runs})
    cmap = plt.get_cmap("viridis", max(len(levels), 2))
    for i, level in enumerate(levels):
        points = [p for r in runs if r["concurrency"] == level for p in r["per_request"]]
        ax.scatter(*zip(*points, strict=True), s=6, color=cmap(i), label=f"c={level}")
    ax.set_yscale("log")
    ax.set_xlabel("seconds since the first request")
    ax.set_ylabel("request's mean ITL (ms)")
    ax.legend(fontsize=7, ncol=min(len(levels), 8), loc="upper left", markerscale=2)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dirs", nargs="+", type=Path)
    parser.add_argument("--bin", type=float, default=10.0, help="seconds per series bin")
    parser.add_argument("--json", type=Path, help="write the runs' rows (no per-request data)")
    parser.add_argument("--png", type=Path, help="per-request mean ITL against time")
    args = parser.parse_args()
    runs = find_runs(args.dirs)
    if not runs:
        raise SystemExit(f"no run with records.jsonl under {', '.join(map(str, args.dirs))}")
    add_series_and_ratios(runs, args.bin)
    print(table(runs))
    if args.png:
        plot(runs, args.png)
    if args.json:
        rows = [{k: v for k, v in r.items() if k != "per_request"} for r in runs]
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
