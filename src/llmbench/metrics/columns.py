"""A run's requests as compact columns, fed one record at a time as each finishes: the numbers
the summary, delivery, validity and goodput blocks need (a few hundred bytes per request, most
of it the pooled ITL gaps) instead of the records themselves, so memory stays flat per request.

Columns hold the same int differences the per-record functions compute (`metrics/request.py`),
converted to float64 only when a summary asks, so summaries equal the record-list ones exactly.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from llmbench.metrics.request import (
    FloatArray,
    IntArray,
    chunk_token_counts,
    client_lag_ns,
    derived_columns,
    e2e_ns,
    itl_gaps_ns,
    itl_per_token_ns,
    ttfb_ns,
    ttfo_ns,
    ttft_ns,
)
from llmbench.records import CountSource, RequestRecord

NONE = -(2**63)  # "not applicable" in an int64 column; becomes NaN in float views
_INT32_MAX = 2**31 - 1

# Per measured request: name → how it is read from a record (None when not applicable).
_INT_COLUMNS = (
    "scheduled_ns", "sent_ns", "end_ns", "ttfb_ns", "ttft_ns", "ttfo_ns", "e2e_ns",
    "client_lag_ns", "planned_to_sent_ns", "input_tokens", "output_tokens", "n_chunks",
    "max_gap_ns", "cached_tokens", "payload_bytes", "images",
)  # fmt: skip


def _ints(record: RequestRecord, gaps: IntArray) -> tuple[int, ...]:
    values = (
        record.scheduled_ns,
        record.sent_ns,
        record.end_ns,
        ttfb_ns(record),
        ttft_ns(record),
        ttfo_ns(record),
        e2e_ns(record),
        client_lag_ns(record),
        record.sent_ns - record.scheduled_ns,  # lag plus, for a retried request, every retry
        record.input_tokens,
        record.output_tokens,
        len(record.chunk_offsets_ns),
        int(gaps.max()) if gaps.size else None,
        record.cached_tokens,
        record.payload_bytes,
        record.images,
    )
    return tuple(NONE if value is None else value for value in values)


@dataclass(frozen=True, slots=True)
class ColumnRow:
    """What one finished record adds to a `RunColumns`, computed where the record is (the one
    process, or a worker process, which sends it beside the record's line) and appended where
    the columns are: a worker's parent keeps the columns without rebuilding any record.

    Only `request_id`, `warmup` and `ok` are set for a warm-up row, which is only counted.
    """

    request_id: str
    warmup: bool
    ok: bool
    ints: Sequence[int] = ()  # _INT_COLUMNS, NONE where not applicable
    error_category: str | None = None  # of a failed row ("unknown" when it had no error)
    http_status: int | None = None
    attempts: int = 1
    no_done: bool = False  # complete without `[DONE]` (RequestRecord.no_done)
    reconnected: bool = False  # resent once after a stale pooled connection
    output_tokens: int | None = None
    output_tokens_source: CountSource | None = None
    usage_output_tokens: int | None = None
    tokenizer_output_tokens: int | None = None
    requested_output_tokens: int | None = None
    # An ok row's ITL gaps as native int32 bytes; a longer gap is 0 there and, exactly, in
    # long_gaps as (its position in this row's gaps, its value) pairs, flattened.
    gaps: bytes = b""
    long_gaps: Sequence[int] = ()
    per_token: bytes | None = None  # float64 per-token ITL, only where it differs from the gaps


def _gap_fields(
    record: RequestRecord, gaps: IntArray
) -> tuple[bytes, tuple[int, ...], bytes | None]:
    """An ok row's gaps (int32 bytes), its long gaps, and its per-token values if they differ."""
    per_token = None
    # Every later chunk counted as 1 token (the usual case): each gap / 1 is the gap itself.
    if not (chunk_token_counts(record)[1:] == 1).all():
        values = itl_per_token_ns(record)
        if not np.array_equal(values, gaps):  # k-token or 0-token chunks
            per_token = values.tobytes()
    long_gaps: tuple[int, ...] = ()
    if gaps.size and (gaps.max() > _INT32_MAX or gaps.min() < -_INT32_MAX):
        long = (gaps > _INT32_MAX) | (gaps < -_INT32_MAX)
        at = np.flatnonzero(long)
        long_gaps = tuple(np.column_stack((at, gaps[at])).ravel().tolist())
        gaps = np.where(long, 0, gaps)
    return gaps.astype(np.int32).tobytes(), long_gaps, per_token


def column_row(record: RequestRecord) -> ColumnRow:
    """The row `record` adds to a `RunColumns` (what `RunColumns.append` appends)."""
    if record.warmup:
        return ColumnRow(record.request_id, True, record.ok)
    gaps = itl_gaps_ns(record)
    gap_bytes, long_gaps, per_token = _gap_fields(record, gaps) if record.ok else (b"", (), None)
    error = record.error
    return ColumnRow(
        record.request_id, False, record.ok, _ints(record, gaps),
        error_category=None if record.ok else error.category.value if error else "unknown",
        http_status=record.http_status or (error.http_status if error else None),
        attempts=record.attempts, no_done=record.no_done, reconnected=record.reconnected,
        output_tokens=record.output_tokens,
        output_tokens_source=record.output_tokens_source,
        usage_output_tokens=record.usage_output_tokens,
        tokenizer_output_tokens=record.tokenizer_output_tokens,
        requested_output_tokens=record.requested_output_tokens,
        gaps=gap_bytes, long_gaps=long_gaps, per_token=per_token,
    )  # fmt: skip


@dataclass(slots=True)
class TokenTally:
    """The `tokens` block's counts over ok measured requests, kept as running sums."""

    sources: Counter[CountSource] = field(default_factory=Counter)
    both_n: int = 0
    both_different: int = 0
    both_abs_sum: int = 0
    both_abs_max: int | None = None
    vs_requested_n: int = 0
    vs_requested_short: int = 0
    vs_requested_long: int = 0
    vs_requested_sum: int = 0

    def add(self, row: ColumnRow) -> None:
        if row.output_tokens_source:
            self.sources[row.output_tokens_source] += 1
        usage, tokenizer = row.usage_output_tokens, row.tokenizer_output_tokens
        if usage is not None and tokenizer is not None:
            diff = abs(usage - tokenizer)
            self.both_n += 1
            self.both_different += bool(diff)
            self.both_abs_sum += diff
            self.both_abs_max = diff if self.both_abs_max is None else max(self.both_abs_max, diff)
        out, requested = row.output_tokens, row.requested_output_tokens
        if out is not None and requested is not None:
            diff = out - requested
            self.vs_requested_n += 1
            self.vs_requested_short += diff < 0
            self.vs_requested_long += diff > 0
            self.vs_requested_sum += diff


@dataclass(slots=True)
class CountTally:
    """The `counts` block and run-level sums over measured requests."""

    by_category: Counter[str] = field(default_factory=Counter)
    by_http_status: Counter[str] = field(default_factory=Counter)
    retried: int = 0
    retry_attempts: int = 0
    no_done: int = 0
    reconnected: int = 0
    ok_output_tokens: int = 0
    ok_output_counted: int = 0

    def add(self, row: ColumnRow) -> None:
        if not row.ok:
            self.by_category[row.error_category or "unknown"] += 1
        if row.http_status is not None:
            self.by_http_status[str(row.http_status)] += 1
        self.retried += row.attempts > 1
        self.retry_attempts += row.attempts - 1
        self.no_done += row.no_done
        self.reconnected += row.reconnected
        if row.ok and row.output_tokens is not None:
            self.ok_output_tokens += row.output_tokens
            self.ok_output_counted += 1


class RunColumns:
    """Everything a run's statistics need, appended record by record (warm-up only counted).

    Rows are measured requests in arrival order; `ok_mask` selects the ok ones, the rows of the
    latency statistics. The pooled ITL gaps of ok requests are one int32 array (longer gaps kept
    beside); their per-token values are stored only for requests where they differ from the
    gaps (k-token or 0-token chunks), in one float64 array.
    """

    def __init__(self) -> None:
        self.n_records = 0
        self.n_warmup = 0
        self._ints = {name: array("q") for name in _INT_COLUMNS}
        self._int_columns = tuple(self._ints.values())  # in _INT_COLUMNS order
        self._ok = array("b")
        self._ok_ids = bytearray()  # request ids of ok rows, UTF-8, end offsets beside
        self._ok_id_ends = array("q")
        # Gaps as int32 (4 B each; ±2.1 s): a longer one is kept exactly beside, by position.
        self._gaps = array("i")
        self._long_gap_at = array("q")
        self._long_gap_ns = array("q")
        # Per-token ITL where it differs from the gaps: per such request, where its gaps start,
        # how many there are and how many per-token values replace them.
        self._pt_at = array("q")
        self._pt_gaps = array("q")
        self._pt_n = array("q")
        self._pt_values = array("d")
        self.counts = CountTally()
        self.tokens = TokenTally()

    @classmethod
    def from_records(cls, records: Iterable[RequestRecord]) -> RunColumns:
        columns = cls()
        for record in records:
            columns.append(record)
        return columns

    def append(self, record: RequestRecord) -> None:
        """Takes in one finished record; keeps none of its objects."""
        self.append_row(column_row(record))

    def append_row(self, row: ColumnRow) -> None:
        """Takes in the row of one finished record (`column_row`)."""
        self.n_records += 1
        if row.warmup:
            self.n_warmup += 1
            return
        for column, value in zip(self._int_columns, row.ints, strict=True):
            column.append(value)
        self._ok.append(row.ok)
        self.counts.add(row)
        if not row.ok:
            return
        self._ok_ids += row.request_id.encode()
        self._ok_id_ends.append(len(self._ok_ids))
        self.tokens.add(row)
        at = len(self._gaps)
        if row.per_token is not None:
            self._pt_at.append(at)
            self._pt_gaps.append(len(row.gaps) // self._gaps.itemsize)
            self._pt_n.append(len(row.per_token) // self._pt_values.itemsize)
            self._pt_values.frombytes(row.per_token)
        for k in range(0, len(row.long_gaps), 2):
            self._long_gap_at.append(at + row.long_gaps[k])
            self._long_gap_ns.append(row.long_gaps[k + 1])
        self._gaps.frombytes(row.gaps)

    # -- views, computed when a summary asks --------------------------------------------------

    @property
    def n_measured(self) -> int:
        return len(self._ok)

    @property
    def ok_mask(self) -> np.ndarray[tuple[int], np.dtype[np.bool_]]:
        return np.frombuffer(self._ok, dtype=np.int8).astype(bool)

    def ints(self, name: str) -> IntArray:
        """An int64 column over measured rows; NONE where not applicable."""
        return np.frombuffer(self._ints[name], dtype=np.int64)

    def floats(self, name: str) -> FloatArray:
        """A column over measured rows as float64, NaN where not applicable."""
        values = self.ints(name)
        return np.where(values == NONE, np.nan, values.astype(np.float64))

    def ok_request_ids_at(self, rows: Iterable[int]) -> list[str]:
        """The request ids of the given ok rows (decoding only those)."""
        raw, ends = self._ok_ids, self._ok_id_ends
        return [raw[ends[i - 1] if i else 0 : ends[i]].decode() for i in rows]

    def ok_request_ids(self) -> list[str]:
        ends = self._ok_id_ends.tolist()
        starts = [0, *ends[:-1]] if ends else []
        raw = bytes(self._ok_ids)
        return [raw[a:b].decode() for a, b in zip(starts, ends, strict=True)]

    @property
    def per_token_differs(self) -> bool:
        """Whether the pooled per-token ITL differs from the pooled gaps: some ok request had
        k-token or 0-token chunks (one token per chunk gives the same values)."""
        return len(self._pt_at) > 0

    def pooled_itl_ns(self) -> tuple[IntArray, FloatArray]:
        """ITL gaps of the ok requests pooled, and the per-token gaps (equal to
        `metrics.request.pooled_itl_ns` over the same records)."""
        gaps = np.frombuffer(self._gaps, dtype=np.int32).astype(np.int64)
        gaps[np.frombuffer(self._long_gap_at, dtype=np.int64)] = np.frombuffer(
            self._long_gap_ns, dtype=np.int64
        )
        return gaps, self._per_token(gaps.astype(np.float64))

    def pooled_itl_scaled(self, divisor: float) -> FloatArray:
        """`pooled_itl_ns()[0] / divisor`, value for value, as one new float64 array (the only
        copy of millions of gaps that a summary needs at a time)."""
        gaps = self._gaps_float()
        gaps /= divisor
        return gaps

    def pooled_itl_per_token_scaled(self, divisor: float) -> FloatArray:
        """`pooled_itl_ns()[1] / divisor`, value for value; two arrays at most while it is made."""
        values = self._per_token(self._gaps_float())
        values /= divisor
        return values

    def _gaps_float(self) -> FloatArray:
        """The pooled gaps in ns as float64, exactly what an int64 array of them converts to."""
        gaps = np.frombuffer(self._gaps, dtype=np.int32).astype(np.float64)
        gaps[np.frombuffer(self._long_gap_at, dtype=np.int64)] = np.frombuffer(
            self._long_gap_ns, dtype=np.int64
        )
        return gaps

    def _per_token(self, gaps: FloatArray) -> FloatArray:
        """The per-token values: `gaps` itself where they are the gaps, else the gaps with each
        such request's gaps replaced by its stored values."""
        if not self.per_token_differs:
            return gaps
        values = np.frombuffer(self._pt_values, dtype=np.float64)
        out = np.empty(gaps.size - sum(self._pt_gaps) + values.size)
        at = used = filled = 0
        for start, n_gaps, n_values in zip(self._pt_at, self._pt_gaps, self._pt_n, strict=True):
            out[filled : filled + start - at] = gaps[at:start]
            filled += start - at
            out[filled : filled + n_values] = values[used : used + n_values]
            filled += n_values
            at, used = start + n_gaps, used + n_values
        out[filled:] = gaps[at:]
        return out

    def table(self) -> dict[str, FloatArray]:
        """`metrics.request.request_table` of the ok requests, from the columns."""
        ok = self.ok_mask
        t = {
            name: self.floats(name)[ok]
            for name in ("ttfb_ns", "ttft_ns", "ttfo_ns", "e2e_ns", "client_lag_ns",
                         "input_tokens", "output_tokens", "n_chunks")
        }  # fmt: skip
        return t | derived_columns(t, self.floats("planned_to_sent_ns")[ok])


def as_columns(records: Sequence[RequestRecord] | RunColumns) -> RunColumns:
    """The columns of `records` (a list is converted; columns are used as they are)."""
    return records if isinstance(records, RunColumns) else RunColumns.from_records(records)
