"""The report's "why" section, from what the runs measured and stored: run.json's
`decomposition` block (E2E split into parts on the client's clock, queue/prefill from the
server's histograms where it has them) and its `cache` block (prefix-cache reuse, the server's
batch size, the cold-start detector). Sentences state those numbers; none is assumed.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmbench.monitor.cache_evidence import CacheEvidence
from llmbench.report.messages import Messages
from llmbench.report.source import ReportSource, RunEntry
from llmbench.report.tables import DASH, TableView, num, pct
from llmbench.report.why_gap import gap_sentences, stacked_parts
from llmbench.report.why_sweeps import (
    MIN_BATCH_SAMPLES,
    batching_sentences,
    prefill_sentences,
    session_sentences,
)


@dataclass(frozen=True, slots=True)
class WhyView:
    tables: list[TableView]
    sentences: list[str]


def _share(part_ms: float | None, e2e_ms: float | None) -> str:
    if part_ms is None or not e2e_ms:
        return DASH
    return pct(part_ms / e2e_ms)


def decomposition_rows(entry: RunEntry, name: str, m: Messages) -> list[tuple[str, ...]]:
    block = entry.run.decomposition
    if block is None:
        return []
    e2e = entry.run.summary.e2e_ms.mean if entry.run.summary else None
    return [
        (
            name,
            m(f"part.{part}"),
            num(stats.mean_ms),
            num(stats.p95_ms),
            DASH if part == "client_send_lag" else _share(stats.mean_ms, e2e),
            _basis_note(m, part, block.split, stats.basis),
        )
        for part, stats in block.parts.items()
    ] + _task_rows(entry, name, m)


def _task_rows(entry: RunEntry, name: str, m: Messages) -> list[tuple[str, ...]]:
    """Agent-service tasks' completion split (`decomposition.tasks`), as shares of its mean."""
    block = entry.run.decomposition
    split = block.tasks if block is not None else None
    if split is None:
        return []
    tasks = entry.run.tasks
    completion = tasks.task_completion_ms.mean if tasks is not None else None
    return [
        (name, m(f"part.task_{part}"), num(stats.mean_ms), num(stats.p95_ms),
         _share(stats.mean_ms, completion), m.stored(f"basis.task_{part}", stats.basis))
        for part, stats in split.parts.items()
    ]  # fmt: skip


def _basis_note(m: Messages, part: str, split: str | None, note: str) -> str:
    """A part's stored basis, translated by its split's catalog entry, else the part's."""
    translated = m.stored(f"basis.{part}_{split}", note)
    return translated if translated != note else m.stored(f"basis.{part}", note)


def _cold_cell(cache: CacheEvidence, m: Messages) -> str:
    cold = cache.cold_start
    if cold.detected is None:
        return DASH
    if cold.detected:
        return m("cold.yes", k=cold.change_at_request, ratio=num(cold.ratio))
    return m("cold.no")


def cache_row(entry: RunEntry, name: str, m: Messages) -> tuple[str, ...] | None:
    cache = entry.run.cache
    if cache is None:
        return None
    batch = cache.batch_size
    return (
        name,
        pct(cache.usage.cached_token_share),
        pct(cache.server.hit_rate) if cache.server else DASH,
        f"{num(batch.mean)} / {num(batch.max)}" if batch else DASH,
        _cold_cell(cache, m),
    )


def sentences(entry: RunEntry, name: str, m: Messages) -> list[str]:
    out = []
    run = entry.run
    if (block := run.decomposition) is not None and run.summary is not None:
        e2e = run.summary.e2e_ms.mean
        parts = stacked_parts(block)
        if parts and e2e:
            part, ms = max(parts, key=lambda p: p[1])
            estimated = block.parts[part].basis.startswith("estimated")
            out.append(
                m(
                    "why.largest_estimated" if estimated else "why.largest",
                    name=name,
                    e2e=num(e2e),
                    part=m(f"part.{part}"),
                    ms=num(ms),
                    share=pct(ms / e2e),
                )
            )
        if "queue_wait" in block.parts:
            out.append(m("why.split", name=name, source=block.split_source))
        else:
            out.append(m("why.no_split", name=name))
    if (cache := run.cache) is not None:
        out += _cache_sentences(cache, name, m)
    return out


def _cache_sentences(cache: CacheEvidence, name: str, m: Messages) -> list[str]:
    out = []
    cold = cache.cold_start
    if cold.detected:
        out.append(
            m(
                "why.cold_one" if cold.change_at_request == 1 else "why.cold",
                name=name,
                k=cold.change_at_request,
                metric=cold.metric.upper(),
                first=num(cold.first_median_ms),
                ratio=num(cold.ratio),
                steady=num(cold.steady_median_ms),
            )
        )
    elif cold.detected is False:
        out.append(m("why.not_cold", name=name, n=cold.requests))
    else:
        out.append(m("why.cold_unknown", name=name, reason=cold.reason))
    if cache.usage.cached_token_share is not None:
        out.append(
            m(
                "why.cache",
                name=name,
                share=pct(cache.usage.cached_token_share),
                hits=cache.usage.requests_with_hits,
            )
        )
    if cache.server is not None and cache.server.hit_rate is not None:
        out.append(m("why.server_cache", name=name, rate=pct(cache.server.hit_rate)))
    if cache.batch_size is not None and len(cache.batch_size.series) >= MIN_BATCH_SAMPLES:
        out.append(
            m(
                "why.batch",
                name=name,
                mean=num(cache.batch_size.mean),
                max=num(cache.batch_size.max),
                n=len(cache.batch_size.series),
            )
        )
    return out


def why_view(source: ReportSource, m: Messages) -> WhyView:
    """Per run of the headline tables: its decomposition, cache evidence and sentences."""
    entries = source.headline_entries()
    several = len({e.target for e in entries}) != len(entries)
    decomposition, cache, said = [], [], []
    for entry in entries:
        name = entry.name if several else entry.target
        decomposition += decomposition_rows(entry, name, m)
        if (row := cache_row(entry, name, m)) is not None:
            cache.append(row)
        said += sentences(entry, name, m)
    said += batching_sentences(source, m) + prefill_sentences(source, m)
    said += gap_sentences(source, m)
    said += session_sentences(source, m)
    tables = []
    if decomposition:
        columns = ("col.target", "col.part", "col.mean", "col.p95", "col.share", "col.basis")
        tables.append(
            TableView(
                "decomposition",
                m("table.decomposition"),
                tuple(m(c) for c in columns),
                tuple(decomposition),
            )
        )
    if cache:
        cache_columns = (
            "col.target",
            "col.usage_cached",
            "col.server_hits",
            "col.batch",
            "col.cold_start",
        )
        tables.append(
            TableView("cache", m("table.cache"), tuple(m(c) for c in cache_columns), tuple(cache))
        )
    if not tables:
        said.append(m("why.none"))
    return WhyView(tables, said)
