"""The chart of docs/real-engines.md: mean ITL of each run against the server's age (seconds
since the first measured run), per number of streams the server held, for both GPU calls. Reads
the JSON files scripts/gpu/summarize.py writes; needs matplotlib (not one of llmbench's needs).

    python3 scripts/gpu/plot_age.py OUT.png CALL1.json CALL2.json
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def streams(run: str) -> int | None:
    """Streams at the server during a run of 512-word prompts (both tools' in paired runs)."""
    if run == "input_512":
        return 1
    if match := re.fullmatch(
        r"(?:concurrency|concurrency_again|agree_llmbench)_c?(\d+)(?:_r\d)?", run
    ):
        return int(match.group(1))
    if match := re.fullmatch(r"paired_llmbench_c(\d+)_r\d", run):
        return 2 * int(match.group(1))
    return None


def main() -> None:
    out, calls = Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]]
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    colours = {1: "tab:blue", 2: "tab:orange", 8: "tab:green"}
    for number, (path, marker) in enumerate(zip(calls, ("o", "s"), strict=False), start=1):
        rows = json.loads(path.read_text())
        for count, colour in colours.items():
            points = [(r["t_s"], r["itl_mean_ms"]) for r in rows if streams(r["run"]) == count]
            if points:
                ax.plot(*zip(*points, strict=True), marker=marker, color=colour, linestyle="-",
                        label=f"call {number}, {count} stream{'s' * (count > 1)}")  # fmt: skip
    ax.set_xlabel("server age: seconds since the first measured run")
    ax.set_ylabel("mean ITL (ms)")
    ax.set_title("transformers serve 5.17 --continuous-batching, H200: faster with age", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    main()
