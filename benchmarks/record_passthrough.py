"""CPU per record on the worker → parent path of `--workers N`, without the network: the worker
encoding a finished record into frames, the parent taking it into records.jsonl (a real file,
flushed per record) and the column store. Two ways: `decode` (the parent rebuilds each record
and encodes it again, as before) and `passthrough` (line and column row, appended as they are).

    python benchmarks/record_passthrough.py [--records 20000] [--output-tokens 64] [--repeats 5]

Prints µs per record (process CPU time, median of the repeats) for each side and way.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import orjson
from client_memory import records  # benchmarks/ on sys.path

from llmbench.metrics.columns import RunColumns, column_row
from llmbench.records import RequestRecord
from llmbench.run.workers.wire import MAX_BATCH, Message, read_record, record_message
from llmbench.store.results import RunWriter, record_line

Frame = tuple[bytes, bytes]


def _frames(messages: list[tuple[Message, bytes]]) -> list[Frame]:
    """Batches of MAX_BATCH, each encoded as write_frame does (its JSON part and its blob)."""
    out = []
    for i in range(0, len(messages), MAX_BATCH):
        batch = messages[i : i + MAX_BATCH]
        out.append((orjson.dumps([m for m, _ in batch]), b"".join(b for _, b in batch)))
    return out


def worker_decode(batch: list[RequestRecord]) -> list[Frame]:
    return _frames([({"t": "rec", "r": r.to_json_dict()}, b"") for r in batch])


def worker_passthrough(batch: list[RequestRecord]) -> list[Frame]:
    return _frames([record_message(record_line(r), column_row(r)) for r in batch])


def parent_decode(frames: list[Frame], writer: RunWriter, columns: RunColumns) -> None:
    for payload, _ in frames:
        for message in orjson.loads(payload):
            record = RequestRecord.from_json_dict(message["r"])
            writer.append(record)
            columns.append(record)


def parent_passthrough(frames: list[Frame], writer: RunWriter, columns: RunColumns) -> None:
    for payload, blob in frames:
        at = 0
        for message in orjson.loads(payload):
            line, row, at = read_record(message, blob, at)
            writer.append_line(line)
            columns.append_row(row)


def measure(batch: list[RequestRecord], way: str, repeats: int) -> tuple[float, float, bytes]:
    """(worker µs/record, parent µs/record, the records.jsonl written) over `repeats` runs."""
    encode = worker_decode if way == "decode" else worker_passthrough
    take = parent_decode if way == "decode" else parent_passthrough
    worker, parent = [], []
    written = b""
    for _ in range(repeats):
        started = time.process_time()
        frames = encode(batch)
        worker.append(time.process_time() - started)
        directory = Path(tempfile.mkdtemp(prefix="passthrough-")) / "run"
        with RunWriter(directory) as writer:
            started = time.process_time()
            take(frames, writer, RunColumns())
            parent.append(time.process_time() - started)
        written = (directory / "records.jsonl").read_bytes()
    per = 1e6 / len(batch)
    return statistics.median(worker) * per, statistics.median(parent) * per, written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--output-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    batch = list(records(args.records, args.output_tokens))
    results = {way: measure(batch, way, args.repeats) for way in ("decode", "passthrough")}
    print(f"{args.records:,} records × {args.output_tokens} tokens, median of {args.repeats}")
    print(f"{'way':<12} {'worker µs/rec':>13} {'parent µs/rec':>13}")
    for way, (worker_us, parent_us, _) in results.items():
        print(f"{way:<12} {worker_us:>13.1f} {parent_us:>13.1f}")
    same = results["decode"][2] == results["passthrough"][2]
    print(f"records.jsonl byte-identical: {same}")
    raise SystemExit(0 if same else 1)


if __name__ == "__main__":
    main()
