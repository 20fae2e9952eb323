"""Open-loop pacing accuracy: how close to its deadlines llmbench sends, at several rates.

Runs a constant-rate open loop against the embedded simulator (TTFT 20 ms, ITL 2 ms, 8 output
tokens, so the server stays light) and prints, per rate: planned vs achieved send rate, dispatch
lag (the pacer's wake-up − deadline) and send lag (request on the socket − deadline) P50/P99/max.

    python benchmarks/pacing.py [--rates 10,50,100,200,400] [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from llmbench.config import RunSpec, SimSpec
from llmbench.engine.loop import loop_factory
from llmbench.metrics.stats import percentile_min_n
from llmbench.run.execute import Target, execute_run
from llmbench.run.target import EmbeddedSim
from llmbench.store.run_schema import LagSummary, OpenLoopDelivery, RunResult


def one_rate(base_url: str, rate: float, seconds: float, out: Path) -> RunResult:
    spec = RunSpec.model_validate(
        {
            "load": {"profile": "constant", "rate": rate, "duration_s": seconds, "warmup": 5},
            "workload": {"input_tokens": 16, "output_tokens": 8},
        }
    )
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(execute_run(spec, Target(base_url), out))


def lag_text(stats: LagSummary, sends: int) -> str:
    """P50 / P99 / max; run.json keeps a P99 at any n, shown here only from 100 sends (the
    gate of `describe`), as a P99 of fewer is the largest values' interpolation."""
    p99 = f"{stats.p99:.3f}" if sends >= percentile_min_n(99) and stats.p99 is not None else "–"
    return f"{stats.p50 or 0.0:.3f} / {p99} / {stats.max or 0.0:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="10,50,100,200,400")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    header = ("rate/s", "sends", "achieved/s", "dispatch P50/P99/max ms", "send lag P50/P99/max ms",
              "late", "valid")  # fmt: skip
    print(" | ".join(header))
    with EmbeddedSim(SimSpec(ttft_ms=20, itl_ms=2)) as sim, tempfile.TemporaryDirectory() as tmp:
        for rate in (float(r) for r in args.rates.split(",")):
            run = one_rate(sim.base_url, rate, args.seconds, Path(tmp) / f"r{rate:g}")
            d = run.delivery
            assert isinstance(d, OpenLoopDelivery)
            assert run.validity is not None
            print(
                f"{rate:g} | {d.sends} | {d.achieved_rate_per_s:.1f} | "
                f"{lag_text(d.dispatch_lag_ms, d.sends)} | "
                f"{lag_text(d.send_lag_ms, d.sends)} | {d.late_sends} | "
                f"{run.validity.valid}"
            )


if __name__ == "__main__":
    main()
