"""`llmbench export` on a large generated results directory: wall time and peak memory per
format, to show the export streams (memory flat in the number of records).

The directory is the golden closed run's run.json plus `--records` request records (its first
record repeated with fresh ids and timestamps, 32 chunks each). Each export runs in its own
process; its peak RSS is that process's `ru_maxrss`.

    python benchmarks/export_scale.py [--records 1000000] [--formats csv,jsonl,parquet,otel]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from array import array
from dataclasses import replace
from pathlib import Path

from llmbench.store.results import RECORDS_FILE, iter_records, record_line

GOLDEN = Path(__file__).parents[1] / "tests" / "golden" / "results-v2" / "closed"
CHILD = """
import resource, sys
from llmbench.cli.main import main
try:
    main(sys.argv[1:])
finally:
    print("maxrss_kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def make_run(directory: Path, n: int) -> None:
    shutil.copy(GOLDEN / "run.json", directory / "run.json")
    template = next(iter_records(GOLDEN / RECORDS_FILE, []))
    offsets = array("q", [20_000_000 + k * 5_000_000 for k in range(32)])
    template = replace(
        template, chunk_offsets_ns=offsets, chunk_tokens=array("I", [1] * 32),
        chunk_channels=array("B", [0] * 32), output_tokens=32,
    )  # fmt: skip
    with (directory / RECORDS_FILE).open("wb") as f:
        for i in range(n):
            shift = i * 1_000_000  # one request per ms
            record = replace(
                template, request_id=f"00000000-0000-4000-8000-{i:012x}",
                scheduled_ns=template.scheduled_ns + shift, sent_ns=template.sent_ns + shift,
                first_token_ns=template.sent_ns + shift + offsets[0],
                first_content_ns=template.sent_ns + shift + offsets[0],
                headers_ns=template.sent_ns + shift + 1_000_000,
                end_ns=template.sent_ns + shift + offsets[-1] + 1_000_000,
            )  # fmt: skip
            f.write(record_line(record))


def export(run_dir: Path, format_: str, out: Path) -> tuple[float, float, str]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", CHILD, "export", str(run_dir), "--format", format_,
         "--out", str(out)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    took = time.perf_counter() - started
    maxrss_kb = int(result.stderr.split("maxrss_kb")[-1])
    return took, maxrss_kb / 1024, result.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--formats", default="csv,jsonl,parquet,otel")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        run_dir.mkdir()
        started = time.perf_counter()
        make_run(run_dir, args.records)
        size_mb = (run_dir / RECORDS_FILE).stat().st_size / 2**20
        print(f"{args.records:,} records, records.jsonl {size_mb:,.0f} MB "
              f"(generated in {time.perf_counter() - started:.0f} s)")  # fmt: skip
        print(f"{'format':8} {'seconds':>8} {'records/s':>10} {'peak RSS MB':>12} {'file MB':>8}")
        for format_ in args.formats.split(","):
            out = Path(tmp) / f"out.{format_}"
            took, rss_mb, said = export(run_dir, format_, out)
            file_mb = out.stat().st_size / 2**20
            print(f"{format_:8} {took:>8.1f} {args.records / took:>10,.0f} {rss_mb:>12.0f} "
                  f"{file_mb:>8.0f}")  # fmt: skip
            assert said.startswith("wrote"), said
            out.unlink()
    print(json.dumps({"python": sys.version.split()[0]}))


if __name__ == "__main__":
    main()
