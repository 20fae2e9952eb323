"""The history store at scale: a generated results directory of N requests (default 1,000,000;
the golden run's run.json, records like client_memory.py's with 32 chunks each), then
`llmbench import` of it and `llmbench history RUN` (the run's statistics recomputed from its
stored request rows), each in its own process, timed, with its peak RSS. Goal: each under
30 s and 2 GB.

    python benchmarks/store_scale.py [--requests 1000000] [--store URL] [--keep DIR]

--store: a file path or postgresql://... (default: a new SQLite file in the temporary folder).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from client_memory import records  # benchmarks/ on sys.path

from llmbench.store.codec import write_atomic
from llmbench.store.results import read_run_file, record_line

GOLDEN_RUN = Path(__file__).parents[1] / "tests" / "golden" / "results-v2" / "closed" / "run.json"
_DISTINCT = 1_000  # distinct records; lines repeat them with their own request ids
_ID = b"20261201-183500-sim-1a2b-"


def generate(directory: Path, n: int) -> int:
    """run.json and n records.jsonl lines; returns the file's size in bytes."""
    directory.mkdir(parents=True)
    run = read_run_file(GOLDEN_RUN).model_copy(update={"run_id": directory.name})
    write_atomic(directory / "run.json", run)
    lines = [record_line(r) for r in records(_DISTINCT, 32)]
    with (directory / "records.jsonl").open("wb") as f:
        for i in range(n):
            line = lines[i % _DISTINCT]
            f.write(line.replace(_ID + str(i % _DISTINCT).encode() + b'"', _ID + b'%d"' % i, 1))
    return (directory / "records.jsonl").stat().st_size


# The command in a process of its own, which reports its own peak RSS (KiB) as its last line.
_CHILD = """import resource, sys
from llmbench.cli.main import main
try:
    main(sys.argv[1:])
finally:
    print("peak-rss-kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def timed(*args: str) -> tuple[float, float, str]:
    """(seconds, peak RSS MiB, stdout) of `llmbench ARGS` in a process of its own."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True,
                          text=True, check=False)  # fmt: skip
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"llmbench {' '.join(args)} failed:\n{done.stderr}")
    peak_kib = int(done.stderr.strip().splitlines()[-1].split()[-1])
    return seconds, peak_kib / 1024, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--store", help="file path or postgresql://... (default: a new file)")
    parser.add_argument("--keep", type=Path, help="generate into DIR and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="llmbench-scale-") as tmp:
        directory = (args.keep or Path(tmp)) / "scale-run"
        started = time.perf_counter()
        size = generate(directory, args.requests)
        print(f"generated {args.requests:,} requests ({size / 2**20:,.0f} MiB records.jsonl) "
              f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
        store = args.store or str(Path(tmp) / "history.db")
        steps = [
            ("import", ["import", str(directory)]),
            ("history RUN (stats from rows)", ["history", "scale-run"]),
            ("history --trend ttft_ms.p50", ["history", "--trend", "ttft_ms.p50"]),
        ]
        print(f"{'step':<32} {'seconds':>8} {'peak RSS MiB':>13}")
        for name, command in steps:
            seconds, peak_mib, _ = timed(*command, "--store", store)
            print(f"{name:<32} {seconds:>8.1f} {peak_mib:>13.0f}")


if __name__ == "__main__":
    main()
