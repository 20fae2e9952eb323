"""Trace replay input: a Mooncake-style JSONL file, one request per line with `timestamp` (ms),
`input_length`, `output_length` and optionally `session_id` and `hash_ids` (prefix blocks).
Prompts are synthetic words; equal hash ids give equal blocks, so prefix sharing is replayed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from llmbench.errors import WorkloadError
from llmbench.records import RequestSpec
from llmbench.workload.synthetic import synthetic_prompt

BLOCK_TOKENS = 512  # tokens per hash id in Mooncake traces


@dataclass(frozen=True, slots=True)
class TraceEntry:
    timestamp_ms: float
    input_length: int
    output_length: int
    session_id: str | None = None
    hash_ids: tuple[int, ...] = ()


def _entry(data: object, where: str) -> TraceEntry:
    if not isinstance(data, dict):
        raise WorkloadError(f"{where}: not a JSON object")
    try:
        session = data.get("session_id")
        entry = TraceEntry(
            timestamp_ms=float(data["timestamp"]),
            input_length=int(data["input_length"]),
            output_length=int(data["output_length"]),
            session_id=None if session is None else str(session),
            hash_ids=tuple(int(h) for h in data.get("hash_ids") or ()),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise WorkloadError(
            f"{where}: {exc!r}",
            hint="each line needs timestamp (ms), input_length and output_length",
        ) from exc
    if entry.input_length < 1 or entry.output_length < 1:
        raise WorkloadError(f"{where}: input_length and output_length must be >= 1")
    return entry


def load_trace(path: Path, max_requests: int | None = None) -> list[TraceEntry]:
    """The entries in timestamp order (a stable sort: equal stamps keep file order)."""
    entries: list[TraceEntry] = []
    try:
        with path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                except ValueError as exc:
                    raise WorkloadError(f"{path}:{number}: not JSON ({exc})") from exc
                entries.append(_entry(data, f"{path}:{number}"))
    except OSError as exc:
        raise WorkloadError(f"cannot read trace {path}: {exc.strerror or exc}") from exc
    if not entries:
        raise WorkloadError(f"{path}: the trace is empty")
    entries.sort(key=lambda e: e.timestamp_ms)
    return entries[:max_requests] if max_requests is not None else entries


def _block(hash_id: int, seed: int) -> str:
    return synthetic_prompt(random.Random(f"{seed}:{hash_id}"), BLOCK_TOKENS)


def trace_requests(entries: Sequence[TraceEntry], *, seed: int) -> Iterator[RequestSpec]:
    """One request per entry: the prompt is the hash-id blocks, cut or padded with fresh words
    to input_length words (one word is one token for the simulator's whitespace count)."""
    rng = random.Random(seed)
    for index, entry in enumerate(entries):
        words = " ".join(_block(h, seed) for h in entry.hash_ids).split()[: entry.input_length]
        missing = entry.input_length - len(words)
        prompt = " ".join(words + ([synthetic_prompt(rng, missing)] if missing > 0 else []))
        yield RequestSpec(
            item_id=f"trace-{index}",
            prompt=prompt,
            max_tokens=entry.output_length,
            input_tokens=entry.input_length,
            session_id=entry.session_id,
        )
