"""Soak: a long (bounded) mixed-fault load against the simulator, watching memory and accounting.

Starts `llmbench sim serve --fault-rate ...` and `llmbench run --duration ...` as two processes,
samples both RSS every `--sample-s`, then checks that memory stays flat (server: slope of RSS;
client: RSS growth per finished request while the load runs) and that every request sent is
accounted for (ok + each error category = sent), and prints a table. The client keeps compact
columns of each finished request for the summary (metrics/columns.py), so its RSS may grow a
little per request; the check bounds that (docs/reliability.md has the figures).

    python benchmarks/soak.py [--duration-s 120] [--concurrency 16] [--fault-rate ...]
        [--client-cpus 0 --server-cpus 1]

Exit status 1 if a check fails.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from llmbench.store.results import read_run_file

LLMBENCH = [sys.executable, "-m", "llmbench"]
DEFAULT_FAULTS = (
    "429:0.04,500:0.03,503:0.02,cut_after:3:0.03,malformed_sse:0.02,missing_done:0.02,"
    "duplicate_done:0.02,stall_after:2:30:0.03,slow_headers:30:0.03,huge_chunk:65536:0.01"
)
MB = 1024 * 1024


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration-s", type=float, default=120.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--fault-rate", default=DEFAULT_FAULTS)
    parser.add_argument("--fault-seed", type=int, default=1)
    parser.add_argument("--output-tokens", type=int, default=32)
    parser.add_argument("--sample-s", type=float, default=1.0)
    parser.add_argument("--max-server-slope-mb-per-min", type=float, default=1.0)
    # Measured 280–290 B on 32-token answers (docs/reliability.md): compact columns, no records.
    parser.add_argument("--max-client-bytes-per-record", type=float, default=512.0)
    parser.add_argument("--client-cpus", help="taskset CPU list for the client, e.g. 0")
    parser.add_argument("--server-cpus", help="taskset CPU list for the simulator, e.g. 1")
    return parser.parse_args()


def pinned(cpus: str | None, command: list[str]) -> list[str]:
    """The command under `taskset -c CPUS` when CPUs are given (client and target apart)."""
    return ["taskset", "-c", cpus, *command] if cpus else command


def start_sim(args: argparse.Namespace) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        pinned(args.server_cpus, [*LLMBENCH, "sim", "serve", "--port", "0", "--ttft-ms", "20",
               "--itl-ms", "2", "--fault-rate", args.fault_rate, "--fault-seed",
               str(args.fault_seed), "--log-capacity", "1000"]),
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    match = re.search(r"(http://\S+)", process.stdout.readline())
    if match is None:
        process.kill()
        raise SystemExit("the simulator did not start")
    return process, match.group(1)


def sample(
    pids: dict[str, int], until: subprocess.Popen[str], every_s: float
) -> list[dict[str, float]]:
    """RSS (bytes) of each process every `every_s` until `until` exits."""
    procs = {name: psutil.Process(pid) for name, pid in pids.items()}
    samples: list[dict[str, float]] = []
    started = time.monotonic()
    while until.poll() is None:
        try:
            row = {name: float(p.memory_info().rss) for name, p in procs.items()}
        except psutil.NoSuchProcess:
            break
        samples.append({"t_s": time.monotonic() - started, **row})
        time.sleep(every_s)
    return samples


def slope_mb_per_min(
    samples: list[dict[str, float]], key: str, until_s: float | None = None
) -> float:
    """Least-squares slope of RSS after the warm-up (start-up imports, the sim's log filling),
    up to `until_s` when given (the load's end: after it the client computes its summary)."""
    tail = [s for s in samples[_warm_index(samples) :] if until_s is None or s["t_s"] <= until_s]
    if len(tail) < 3:
        return float("nan")
    t = np.array([s["t_s"] for s in tail])
    rss = np.array([s[key] for s in tail]) / MB
    return float(np.polyfit(t, rss, 1)[0] * 60.0)


def _warm_index(samples: list[dict[str, float]]) -> int:
    """The first sample after a quarter of the run (at least 10 s): imports and buffers settle."""
    limit_s = max(10.0, samples[-1]["t_s"] / 4)
    return next((i for i, s in enumerate(samples) if s["t_s"] >= limit_s), len(samples) - 1)


def accounting(out: Path) -> dict[str, Any]:
    run = read_run_file(out / "run.json")
    lines = (out / "records.jsonl").read_text().splitlines()
    engine, counts, summary = run.engine, run.counts, run.summary
    if engine is None or counts is None or summary is None:
        raise SystemExit(f"{out}: the run did not finish")
    sent = sum(p.sent for p in (engine.warmup, engine.measured) if p is not None)
    categories = counts.by_category
    return {
        "status": run.status,
        "sent": sent,
        "records": len(lines),
        "ok": counts.ok,
        "errors": categories,
        "accounted": counts.ok + sum(categories.values()) + counts.warmup,
        "ttft_p50_ms": summary.ttft_ms.p50,
        "requests_per_s": summary.requests_per_s,
    }


def soak(args: argparse.Namespace, out: Path) -> tuple[dict[str, Any], list[dict[str, float]]]:
    sim, url = start_sim(args)
    try:
        with (out.parent / "client.log").open("w") as log:
            client = subprocess.Popen(
                pinned(args.client_cpus, [*LLMBENCH, "run", "--base-url", url, "--model",
                       "llmbench-sim", "--duration", str(args.duration_s), "--concurrency",
                       str(args.concurrency), "--output-tokens", str(args.output_tokens),
                       "--input-tokens", "32", "--request-timeout", "10", "--output-dir",
                       str(out)]),
                stdout=log, stderr=log, text=True,
            )  # fmt: skip
            samples = sample({"client": client.pid, "server": sim.pid}, client, args.sample_s)
            client.wait(timeout=args.duration_s + 120)
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    if client.returncode != 0:
        raise SystemExit(f"llmbench run failed: {(out.parent / 'client.log').read_text()[-2000:]}")
    return accounting(out), samples


def _span(samples: list[dict[str, float]], warm: dict[str, float], key: str) -> str:
    return " → ".join(f"{s[key] / MB:.1f}" for s in (samples[0], warm, samples[-1]))


def report(args: argparse.Namespace, acct: dict[str, Any], samples: list[dict[str, float]]) -> bool:
    server_slope = slope_mb_per_min(samples, "server")
    client_slope = slope_mb_per_min(samples, "client")
    warm = samples[_warm_index(samples)]
    client_growth = samples[-1]["client"] - warm["client"]
    kept_after_warm = acct["records"] * (1 - warm["t_s"] / max(samples[-1]["t_s"], 1e-9))
    to_end_per_record = client_growth / max(kept_after_warm, 1.0)
    # Per finished request while the load runs: RSS slope over the load / the request rate. The
    # figure to the end also holds the summary's transient arrays (freed, but kept by RSS).
    load_slope = slope_mb_per_min(samples, "client", until_s=args.duration_s)
    per_record = load_slope * MB / 60 / (acct["records"] / args.duration_s)
    checks = {
        "every request accounted (ok + errors = sent = records)": acct["accounted"]
        == acct["sent"]
        == acct["records"],
        f"server RSS slope ≤ {args.max_server_slope_mb_per_min} MB/min": abs(server_slope)
        <= args.max_server_slope_mb_per_min,
        f"client growth ≤ {args.max_client_bytes_per_record:.0f} B per request": per_record
        <= args.max_client_bytes_per_record,
    }
    rows = [
        ("duration s / concurrency", f"{args.duration_s:g} / {args.concurrency}"),
        ("fault rates", args.fault_rate),
        ("sent / records / ok", f"{acct['sent']} / {acct['records']} / {acct['ok']}"),
        ("errors by category", ", ".join(f"{k} {v}" for k, v in acct["errors"].items())),
        ("ok requests/s, TTFT P50 ms", f"{acct['requests_per_s']:.1f}, {acct['ttft_p50_ms']:.1f}"),
        ("RSS samples", str(len(samples))),
        ("server RSS start → warm → end MB", _span(samples, warm, "server")),
        ("server RSS slope MB/min", f"{server_slope:+.3f}"),
        ("client RSS start → warm → end MB", _span(samples, warm, "client")),
        ("client RSS slope MB/min (load / to the end)", f"{load_slope:+.3f} / {client_slope:+.3f}"),
        ("client growth B per request (load)", f"{per_record:.0f}"),
        ("client growth B per record to the end", f"{to_end_per_record:.0f}"),
    ]  # fmt: skip
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    return all(checks.values())


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="llmbench-soak-") as tmp:
        acct, samples = soak(args, Path(tmp) / "run")
    if len(samples) < 5:
        raise SystemExit("too few RSS samples: run longer")
    raise SystemExit(0 if report(args, acct, samples) else 1)


if __name__ == "__main__":
    main()
