"""Per-request metrics: pure functions of one `RequestRecord`, None when not applicable.

`request_table` computes the same metrics for many records as float64 columns (NaN = not
applicable) and `pooled_itl_ns` the pooled inter-chunk gaps, without Python loops per chunk.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from llmbench.records import RequestRecord

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_NS_PER_S = 1_000_000_000


def _since(t_ns: int | None, origin_ns: int) -> int | None:
    return None if t_ns is None else t_ns - origin_ns


def ttfb_ns(record: RequestRecord) -> int | None:
    """TTFB = headers_ns − sent_ns: response headers received."""
    return _since(record.headers_ns, record.sent_ns)


def ttft_ns(record: RequestRecord) -> int | None:
    """TTFT = first_token_ns − sent_ns: first chunk carrying any generated token."""
    return _since(record.first_token_ns, record.sent_ns)


def ttfo_ns(record: RequestRecord) -> int | None:
    """TTFO = first_content_ns − sent_ns: first chunk carrying visible (non-reasoning) content."""
    return _since(record.first_content_ns, record.sent_ns)


def e2e_ns(record: RequestRecord) -> int | None:
    """E2E = end_ns − sent_ns: end of stream."""
    return _since(record.end_ns, record.sent_ns)


def client_lag_ns(record: RequestRecord) -> int:
    """Client lag = sent_ns − scheduled_ns: how late the client sent against its plan.

    A retried request (--retry-429) counts from its first attempt: the waits are not lag."""
    sent_ns = record.sent_ns if record.first_sent_ns is None else record.first_sent_ns
    return sent_ns - record.scheduled_ns


def scheduled_ttft_ns(record: RequestRecord) -> int | None:
    """TTFT from the planned send time (coordinated omission): first_token_ns − scheduled_ns."""
    return _since(record.first_token_ns, record.scheduled_ns)


def scheduled_e2e_ns(record: RequestRecord) -> int | None:
    """Effective E2E (coordinated omission): end_ns − scheduled_ns."""
    return _since(record.end_ns, record.scheduled_ns)


def chunk_offsets(record: RequestRecord) -> IntArray:
    """Arrival offsets from sent_ns of the token-bearing chunks, as an int64 view (no copy)."""
    return np.frombuffer(record.chunk_offsets_ns, dtype=np.int64)


def itl_gaps_ns(record: RequestRecord) -> IntArray:
    """ITL gaps: differences of consecutive token-bearing chunk arrivals (n_chunks − 1 values)."""
    return np.diff(chunk_offsets(record))


def chunk_token_counts(record: RequestRecord) -> FloatArray:
    """Tokens per token-bearing chunk, as used for per-token ITL.

    The client's per-chunk counts, except when they are all ≤ 1 (no tokenizer) while
    output_tokens exceeds the chunk count (the server packs k tokens per chunk): then every
    chunk gets the request's mean, output_tokens / n_chunks. Missing counts are taken as 1.
    """
    n_chunks = len(record.chunk_offsets_ns)
    if len(record.chunk_tokens) != n_chunks:
        counts = np.ones(n_chunks)
    else:
        counts = np.frombuffer(
            record.chunk_tokens, dtype=np.dtype(f"u{record.chunk_tokens.itemsize}")
        )
        counts = counts.astype(np.float64)
    out = record.output_tokens
    if n_chunks and out is not None and out > n_chunks and counts.max() <= 1:
        return np.full(n_chunks, out / n_chunks)
    return counts


def itl_per_token_ns(record: RequestRecord) -> FloatArray:
    """Per-token ITL: each gap / the tokens of the later chunk; gaps into 0-token chunks skipped."""
    later = chunk_token_counts(record)[1:]
    gaps = itl_gaps_ns(record).astype(np.float64)
    keep = later > 0
    return gaps[keep] / later[keep]


def tpot_ns(record: RequestRecord) -> float | None:
    """TPOT = (E2E − TTFT) / (output_tokens − 1); None below 2 output tokens."""
    e2e, ttft, out = e2e_ns(record), ttft_ns(record), record.output_tokens
    if e2e is None or ttft is None or out is None or out < 2:
        return None
    return (e2e - ttft) / (out - 1)


def ntpot_ns(record: RequestRecord) -> float | None:
    """NTPOT = E2E / output_tokens; None without output tokens."""
    e2e, out = e2e_ns(record), record.output_tokens
    if e2e is None or not out:
        return None
    return e2e / out


def tokens_per_chunk(record: RequestRecord) -> float | None:
    """Tokens per chunk = output_tokens / n_chunks (token-bearing chunks); None without chunks."""
    n_chunks, out = len(record.chunk_offsets_ns), record.output_tokens
    if not n_chunks or out is None:
        return None
    return out / n_chunks


def output_tokens_per_s(record: RequestRecord) -> float | None:
    """Per-request decode rate = (output_tokens − 1) / (E2E − TTFT) in s; None below 2 tokens."""
    e2e, ttft, out = e2e_ns(record), ttft_ns(record), record.output_tokens
    if e2e is None or ttft is None or out is None or out < 2 or e2e <= ttft:
        return None
    return (out - 1) * _NS_PER_S / (e2e - ttft)


TABLE_COLUMNS = (
    "ttfb_ns",
    "ttft_ns",
    "ttfo_ns",
    "e2e_ns",
    "client_lag_ns",
    "scheduled_ttft_ns",
    "scheduled_e2e_ns",
    "tpot_ns",
    "ntpot_ns",
    "tokens_per_chunk",
    "output_tokens_per_s",
    "input_tokens",
    "output_tokens",
    "n_chunks",
)


def _column(values: list[int | None]) -> FloatArray:
    return np.array(values, dtype=np.float64)  # None becomes NaN


def request_table(records: Sequence[RequestRecord]) -> dict[str, FloatArray]:
    """The per-request metrics of `records` as float64 columns (TABLE_COLUMNS), NaN = None.

    Differences are taken on Python ints before the float conversion, so absolute monotonic
    timestamps above 2⁵³ ns lose nothing.
    """
    t: dict[str, FloatArray] = {
        "ttfb_ns": _column([ttfb_ns(r) for r in records]),
        "ttft_ns": _column([ttft_ns(r) for r in records]),
        "ttfo_ns": _column([ttfo_ns(r) for r in records]),
        "e2e_ns": _column([e2e_ns(r) for r in records]),
        "client_lag_ns": _column([client_lag_ns(r) for r in records]),
        "input_tokens": _column([r.input_tokens for r in records]),
        "output_tokens": _column([r.output_tokens for r in records]),
        "n_chunks": _column([len(r.chunk_offsets_ns) for r in records]),
    }
    # From the plan to the last attempt's send: lag plus, for a retried request, every retry.
    planned_to_sent = _column([r.sent_ns - r.scheduled_ns for r in records])
    t |= derived_columns(t, planned_to_sent)
    return {name: t[name] for name in TABLE_COLUMNS}


def derived_columns(t: dict[str, FloatArray], planned_to_sent: FloatArray) -> dict[str, FloatArray]:
    """The columns computed from others (TPOT, NTPOT, tokens per chunk, tokens/s, latency from
    the plan), NaN where not applicable; `t` holds ttft_ns, e2e_ns, output_tokens, n_chunks."""
    ttft, e2e, out, n_chunks = t["ttft_ns"], t["e2e_ns"], t["output_tokens"], t["n_chunks"]
    decode_ns = e2e - ttft
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = (out - 1) * _NS_PER_S / decode_ns
        return {
            "scheduled_ttft_ns": ttft + planned_to_sent,
            "scheduled_e2e_ns": e2e + planned_to_sent,
            "tpot_ns": np.where(out >= 2, decode_ns / (out - 1), np.nan),
            "ntpot_ns": np.where(out > 0, e2e / out, np.nan),
            "tokens_per_chunk": np.where(n_chunks > 0, out / n_chunks, np.nan),
            "output_tokens_per_s": np.where((out >= 2) & (decode_ns > 0), rate, np.nan),
        }


def _token_buffer(record: RequestRecord) -> array[int]:
    n_chunks = len(record.chunk_offsets_ns)
    if len(record.chunk_tokens) == n_chunks and record.chunk_tokens.typecode == "I":
        return record.chunk_tokens
    return array("I", [1]) * n_chunks  # missing counts are taken as 1, as in chunk_token_counts


def _segment_counts(records: Sequence[RequestRecord], lengths: IntArray) -> FloatArray:
    """chunk_token_counts of every record, concatenated, computed per segment in numpy."""
    joined = b"".join(_token_buffer(r) for r in records)  # one copy, no per-record arrays
    counts = np.frombuffer(joined, dtype=np.dtype(f"u{array('I').itemsize}")).astype(np.float64)
    nonempty = lengths > 0
    seg_max = np.zeros(len(records))
    if counts.size:
        seg_max[nonempty] = np.maximum.reduceat(counts, (np.cumsum(lengths) - lengths)[nonempty])
    out = np.array([r.output_tokens for r in records], dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        fallback = (seg_max <= 1) & (out > lengths)  # NaN output_tokens compares False
        if not fallback.any():  # the usual case: skip two arrays as long as all the chunks
            return counts
        mean_k = np.repeat(np.where(fallback, out / lengths, np.nan), lengths)
    return np.where(np.isnan(mean_k), counts, mean_k)


def pooled_itl_ns(records: Sequence[RequestRecord]) -> tuple[IntArray, FloatArray]:
    """ITL gaps of all records pooled, and the per-token gaps (gap / tokens of the later chunk).

    Equal to concatenating `itl_gaps_ns` and `itl_per_token_ns` record by record.
    """
    lengths = np.fromiter((len(r.chunk_offsets_ns) for r in records), np.int64, len(records))
    if lengths.sum() < 2:
        return np.empty(0, dtype=np.int64), np.empty(0)
    cat = np.frombuffer(b"".join(r.chunk_offsets_ns for r in records), dtype=np.int64)
    gaps = np.diff(cat)
    # A gap from one record's last chunk to the next record's first is not a gap: drop it.
    keep = np.ones(gaps.size, dtype=bool)
    starts = np.cumsum(lengths)[:-1]
    keep[starts[(starts > 0) & (starts < cat.size)] - 1] = False
    later = _segment_counts(records, lengths)[1:][keep]
    gaps = gaps[keep]
    counted = later > 0
    per_token = gaps[counted] / later[counted]
    return gaps, per_token
