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
    "max_gap_ns",
)  # fmt: skip


def _ints(record: RequestRecord, gaps: IntArray) -> tuple[int | None, ...]:
    return (
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
    )


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

    def add(self, record: RequestRecord) -> None:
        if record.output_tokens_source:
            self.sources[record.output_tokens_source] += 1
        usage, tokenizer = record.usage_output_tokens, record.tokenizer_output_tokens
        if usage is not None and tokenizer is not None:
            diff = abs(usage - tokenizer)
            self.both_n += 1
            self.both_different += bool(diff)
            self.both_abs_sum += diff
            self.both_abs_max = diff if self.both_abs_max is None else max(self.both_abs_max, diff)
        out, requested = record.output_tokens, record.requested_output_tokens
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
    ok_output_tokens: int = 0
    ok_output_counted: int = 0

    def add(self, record: RequestRecord) -> None:
        if not record.ok:
            error = record.error
            self.by_category[error.category.value if error else "unknown"] += 1
        status = record.http_status or (record.error.http_status if record.error else None)
        if status is not None:
            self.by_http_status[str(status)] += 1
        self.retried += record.attempts > 1
        self.retry_attempts += record.attempts - 1
        if record.ok and record.output_tokens is not None:
            self.ok_output_tokens += record.output_tokens
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
        self.n_records += 1
        if record.warmup:
            self.n_warmup += 1
            return
        gaps = itl_gaps_ns(record)
        for name, value in zip(_INT_COLUMNS, _ints(record, gaps), strict=True):
            self._ints[name].append(NONE if value is None else value)
        self._ok.append(record.ok)
        self.counts.add(record)
        if not record.ok:
            return
        self._ok_ids += record.request_id.encode()
        self._ok_id_ends.append(len(self._ok_ids))
        self.tokens.add(record)
        per_token = itl_per_token_ns(record)
        if not np.array_equal(per_token, gaps):  # k-token or 0-token chunks: keep the values
            self._pt_at.append(len(self._gaps))
            self._pt_gaps.append(gaps.size)
            self._pt_n.append(per_token.size)
            self._pt_values.frombytes(per_token.tobytes())
        self._append_gaps(gaps)

    def _append_gaps(self, gaps: IntArray) -> None:
        long = (gaps > _INT32_MAX) | (gaps < -_INT32_MAX)
        if long.any():
            self._long_gap_at.extend((np.flatnonzero(long) + len(self._gaps)).tolist())
            self._long_gap_ns.extend(gaps[long].tolist())
            gaps = np.where(long, 0, gaps)
        self._gaps.frombytes(gaps.astype(np.int32).tobytes())

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

    def ok_request_ids(self) -> list[str]:
        ends = self._ok_id_ends.tolist()
        starts = [0, *ends[:-1]] if ends else []
        raw = bytes(self._ok_ids)
        return [raw[a:b].decode() for a, b in zip(starts, ends, strict=True)]

    def pooled_itl_ns(self) -> tuple[IntArray, FloatArray]:
        """ITL gaps of the ok requests pooled, and the per-token gaps (equal to
        `metrics.request.pooled_itl_ns` over the same records)."""
        gaps = np.frombuffer(self._gaps, dtype=np.int32).astype(np.int64)
        gaps[np.frombuffer(self._long_gap_at, dtype=np.int64)] = np.frombuffer(
            self._long_gap_ns, dtype=np.int64
        )
        values = np.frombuffer(self._pt_values, dtype=np.float64)
        pieces: list[FloatArray] = []
        at = used = 0
        for start, n_gaps, n_values in zip(self._pt_at, self._pt_gaps, self._pt_n, strict=True):
            pieces += [gaps[at:start].astype(np.float64), values[used : used + n_values]]
            at, used = start + n_gaps, used + n_values
        pieces.append(gaps[at:].astype(np.float64))
        return gaps, np.concatenate(pieces)

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
