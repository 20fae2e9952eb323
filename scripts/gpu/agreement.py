"""llmbench against the reference client, from scripts/gpu_validation.sh's results: per load
and repeat, both tools' mean TTFT, ITL and E2E and their ratio; the median ratio over repeats.
`agree` (STAGE=sweeps): one tool after the other; `paired` (STAGE=predicted): both at once.

In paired mode a second table keeps only the requests both tools had in flight at the same time
(sent after the later tool's first measured send, ended before the earlier tool's last end), so
that one tool's start-up or tail, run alone on the server, is not compared with shared load.
Its n column adds the TTFT difference of means with its 95 % interval (normal approximation).
Its llmbench means are recomputed from records.jsonl by the definitions of docs/metrics.md (TTFT
first chunk with text, ITL gaps between chunks with text, E2E the stream's end), and checked
against llmbench's own summary on the full set.

    python3 scripts/gpu/agreement.py RESULTS_DIR [agree|paired]
"""

from __future__ import annotations

import itertools
import json
import statistics
import sys
from pathlib import Path
from typing import Any

METRICS = ("ttft", "itl", "e2e")


def llmbench_means(run_dir: Path) -> dict[str, float]:
    summary = json.loads((run_dir / "run.json").read_text())["summary"]
    return {m: summary[f"{m}_ms"]["mean"] for m in METRICS}


def reference_means(path: Path) -> dict[str, float]:
    data = json.loads(path.read_text())
    return {m: data[f"{m}_ms_mean"] for m in METRICS}


def llmbench_requests(run_dir: Path) -> list[dict[str, Any]]:
    """Measured ok requests of a run, in the reference client's per-request shape."""
    out = []
    for line in (run_dir / "records.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r["warmup"] or r["status"] != "ok":
            continue
        offsets = [o for o, t in zip(r["chunk_offsets_ns"], r["chunk_tokens"], strict=True) if t]
        out.append({
            "sent_ns": r["sent_ns"], "end_ns": r["end_ns"],
            "ttft_ms": (r["first_token_ns"] - r["sent_ns"]) / 1e6,
            "gaps_ms": [(b - a) / 1e6 for a, b in itertools.pairwise(offsets)],
            "e2e_ms": (r["end_ns"] - r["sent_ns"]) / 1e6,
        })  # fmt: skip
    return out


def means(requests: list[dict[str, Any]]) -> dict[str, float]:
    return {
        "ttft": statistics.fmean(r["ttft_ms"] for r in requests),
        "itl": statistics.fmean(g for r in requests for g in r["gaps_ms"]),
        "e2e": statistics.fmean(r["e2e_ms"] for r in requests),
    }


def overlap(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> tuple[list, list]:
    start = max(min(r["sent_ns"] for r in ours), min(r["sent_ns"] for r in theirs))
    end = min(max(r["end_ns"] for r in ours), max(r["end_ns"] for r in theirs))
    keep = [
        [r for r in rs if r["sent_ns"] >= start and r["end_ns"] <= end] for rs in (ours, theirs)
    ]
    return keep[0], keep[1]


def ttft_difference(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> str:
    """Difference of mean TTFT, llmbench − reference, with its normal 95 % interval."""
    a, b = [r["ttft_ms"] for r in ours], [r["ttft_ms"] for r in theirs]
    if len(a) < 2 or len(b) < 2:
        return "–"
    se = (statistics.variance(a) / len(a) + statistics.variance(b) / len(b)) ** 0.5
    return f"{statistics.fmean(a) - statistics.fmean(b):+.1f} ± {1.96 * se:.1f} ms"


def table(title: str, pairs: dict[tuple[str, str], tuple[dict, dict, str]]) -> None:
    print(f"{title}\n")
    print("| load | repeat | n | TTFT llmbench / reference (ms) | ITL (ms) | E2E (ms) |")
    print("|---|---:|---|---|---|---|")
    ratios: dict[str, list[dict[str, float]]] = {}
    for (load, rep), (ours, theirs, n) in pairs.items():
        ratio = {m: ours[m] / theirs[m] for m in METRICS}
        ratios.setdefault(load, []).append(ratio)
        cells = [f"{ours[m]:.2f} / {theirs[m]:.2f} ({ratio[m] - 1:+.1%})" for m in METRICS]
        print(f"| {load} | {rep[1:]} | {n} | " + " | ".join(cells) + " |")
    print("\n| load | median ratio TTFT | ITL | E2E |\n|---|---|---|---|")
    for load, rs in ratios.items():
        medians = [statistics.median(r[m] for r in rs) for m in METRICS]
        print(f"| {load} | " + " | ".join(f"{m:.3f}" for m in medians) + " |")
    print()


def main() -> None:
    results = Path(sys.argv[1])
    kind = sys.argv[2] if len(sys.argv) > 2 else "agree"
    whole: dict[tuple[str, str], tuple[dict, dict, str]] = {}
    shared: dict[tuple[str, str], tuple[dict, dict, str]] = {}
    for ref in sorted(results.glob(f"{kind}_reference_*.json")):
        key = ref.stem.removeprefix(f"{kind}_reference_")  # c8_r2
        ours_dir = results / f"{kind}_llmbench_{key}"
        if not (ours_dir / "run.json").exists():
            continue
        load, rep = key.split("_")
        data = json.loads(ref.read_text())
        whole[load, rep] = (llmbench_means(ours_dir), reference_means(ref), str(data["requests"]))
        ours = llmbench_requests(ours_dir)
        recomputed = means(ours)
        for m in METRICS:  # the records read here must give llmbench's own summary
            assert abs(recomputed[m] / whole[load, rep][0][m] - 1) < 1e-6, (key, m)
        if kind == "paired" and "sent_ns" in data["per_request"][0]:
            a, b = overlap(ours, data["per_request"])
            if a and b:
                n = f"{len(a)}+{len(b)}, TTFT {ttft_difference(a, b)}"
                shared[load, rep] = (means(a), means(b), n)
    table("All measured requests", whole)
    if shared:
        table("Requests both tools had in flight at the same time", shared)


if __name__ == "__main__":
    main()
