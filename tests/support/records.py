"""A seeded, varied run of RequestRecords for equivalence tests: ok and failed requests of
every category, warm-up, missing timings, retries, k-token and 0-token chunks, missing chunk
counts, usage vs tokenizer counts, and absolute timestamps around and above 2⁵³ ns."""

from __future__ import annotations

import random
from array import array
from typing import Any

from llmbench.records import CountSource, ErrorCategory, RequestError, RequestRecord, Status

MS = 1_000_000


def _chunks(rng: random.Random, n: int) -> tuple[array[int], array[int]]:
    offsets, t = [], rng.randrange(1, 300) * MS
    for _ in range(n):
        offsets.append(t)
        t += rng.choice([0, 1, rng.randrange(1, 40 * MS), rng.randrange(1, 5 * MS)])
    style = rng.random()
    if style < 0.5:
        tokens = [1] * n
    elif style < 0.7:
        tokens = [rng.choice([0, 1, 2, 3]) for _ in range(n)]
    elif style < 0.8:
        tokens = []  # counts missing
    else:
        tokens = [rng.randrange(1, 6) for _ in range(n)]
    return array("q", offsets), array("I", tokens)


def _timings(rng: random.Random, sent: int, offsets: array[int]) -> dict[str, Any]:
    last = offsets[-1] if offsets else rng.randrange(1, 100) * MS
    out: dict[str, Any] = {
        "headers_ns": sent + rng.randrange(1, 5 * MS) if rng.random() < 0.95 else None,
        "first_token_ns": sent + offsets[0] if offsets else None,
        "first_content_ns": sent + offsets[0] + rng.choice([0, 0, MS]) if offsets else None,
        "end_ns": sent + last + rng.randrange(0, 2 * MS) if rng.random() < 0.97 else None,
    }
    return out


def _counts(rng: random.Random, n_chunks: int) -> dict[str, Any]:
    usage = n_chunks + rng.choice([0, 0, 0, 1, -1, 5]) if rng.random() < 0.8 else None
    tokenizer = n_chunks + rng.choice([0, 2, -2]) if rng.random() < 0.5 else None
    output = usage if usage is not None else tokenizer
    source = CountSource.USAGE if usage is not None else CountSource.TOKENIZER
    if output is None and rng.random() < 0.5:
        output, source = n_chunks, CountSource.CHUNKS
    return {
        "output_tokens": output if output is None else max(output, 0),
        "output_tokens_source": source if output is not None else None,
        "usage_output_tokens": usage,
        "tokenizer_output_tokens": tokenizer,
        "requested_output_tokens": rng.choice([None, n_chunks, 16, 32]),
        "input_tokens": rng.choice([None, 64, 128, 7]),
    }


# The categories the golden summaries were drawn with, listed: drawing from the enum itself
# would shift every later random draw when a category is added.
_GOLDEN_CATEGORIES = [
    ErrorCategory.CONNECT, ErrorCategory.TIMEOUT_BEFORE_FIRST_TOKEN,
    ErrorCategory.TIMEOUT_MID_STREAM, ErrorCategory.HTTP_4XX, ErrorCategory.HTTP_429,
    ErrorCategory.HTTP_5XX, ErrorCategory.PROTOCOL, ErrorCategory.CANCELLED,
]  # fmt: skip


def _error(rng: random.Random) -> tuple[RequestError, int | None]:
    category = rng.choice(_GOLDEN_CATEGORIES)
    status = {ErrorCategory.HTTP_429: 429, ErrorCategory.HTTP_5XX: 503}.get(category)
    if category is ErrorCategory.HTTP_4XX:
        status = rng.choice([400, 401, 404])
    return RequestError(category, "boom", status), status


def varied_records(n: int, seed: int, base_ns: int = 2**53 - 10**12) -> list[RequestRecord]:
    rng = random.Random(seed)
    records, clock = [], base_ns
    for i in range(n):
        clock += rng.randrange(0, 30 * MS)
        scheduled = clock
        sent = scheduled + rng.choice([0, 1000, rng.randrange(0, 20 * MS)])
        offsets, tokens = _chunks(rng, rng.choice([0, 1, 2, rng.randrange(3, 40)]))
        fields: dict[str, Any] = {**_timings(rng, sent, offsets), **_counts(rng, len(offsets))}
        status, error, http_status = Status.OK, None, 200
        if rng.random() < 0.2:
            status = Status.ERROR
            error, http_status = _error(rng)
        attempts = rng.choice([1, 1, 1, 2, 3])
        records.append(
            RequestRecord(
                request_id=f"req-{seed}-{i}",
                target_id="t",
                item_id=f"item-{i}",
                worker_id=i % 3,
                status=status,
                scheduled_ns=scheduled,
                sent_ns=sent,
                warmup=i < n // 20,
                chunk_offsets_ns=offsets,
                chunk_tokens=tokens,
                chunk_channels=array("B", [0] * len(offsets)),
                http_status=http_status if rng.random() < 0.9 else None,
                error=error,
                attempts=attempts,
                retry_wait_ns=(attempts - 1) * MS,
                first_sent_ns=sent - (attempts - 1) * 2 * MS if attempts > 1 else None,
                **fields,
            )
        )
    return records
