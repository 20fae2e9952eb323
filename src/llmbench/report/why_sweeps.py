"""The "why" sentences a sweep's runs support, each from what those runs stored: across the
concurrency levels, the server's mean running requests (its batch, `cache.batch_size`) beside
the output tokens/s; across the input lengths, the mean first-token wait and, where the server's
histograms split it, the prefill estimate (`decomposition`); in session runs, the stored
continued-vs-new and later-vs-first TTFT comparisons (`sessions`). Only the lowest and highest
step of each target are set side by side; the tables have every step.
"""

from __future__ import annotations

from collections import defaultdict

from llmbench.report.messages import Messages
from llmbench.report.source import ReportSource, RunEntry
from llmbench.report.tables import input_entries, num

# Fewer scrapes of the server's running-requests gauge (one a second) than this: no sentence.
MIN_BATCH_SAMPLES = 5


def _ends(entries: list[RunEntry]) -> dict[str, tuple[RunEntry, RunEntry]]:
    """Per target with two steps or more: its first and last (the entries come sorted)."""
    by_target: dict[str, list[RunEntry]] = defaultdict(list)
    for entry in entries:
        by_target[entry.target].append(entry)
    return {t: (runs[0], runs[-1]) for t, runs in by_target.items() if len(runs) >= 2}


def batching_sentences(source: ReportSource, m: Messages) -> list[str]:
    out = []
    steps = sorted(source.scenario("concurrency"), key=lambda e: e.concurrency or 0)
    for target, (low, high) in _ends(steps).items():
        batches = [e.run.cache.batch_size if e.run.cache else None for e in (low, high)]
        tokens = [e.run.summary.output_tokens_per_s if e.run.summary else None for e in (low, high)]
        if batches[0] is None or batches[1] is None or None in tokens:
            continue
        if min(len(batches[0].series), len(batches[1].series)) < MIN_BATCH_SAMPLES:
            continue  # a short run's few scrapes cannot tell its batch size
        out.append(
            m("why.batching", name=target, c1=low.concurrency, c2=high.concurrency,
              b1=num(batches[0].mean), b2=num(batches[1].mean), t1=num(tokens[0]),
              t2=num(tokens[1]))
        )  # fmt: skip
    return out


def session_sentences(source: ReportSource, m: Messages) -> list[str]:
    """Session runs: run.json's `sessions` comparisons (continued vs new sessions, later vs
    first turns): the median TTFT ratio with its bootstrap CI, as stored."""
    out = []
    for entry in source.entries:
        block = getattr(entry.run, "sessions", None)  # session runs only
        if block is None:
            continue
        for key, comparison in (("why.sessions_continued", block.new_vs_continued),
                                ("why.sessions_later", block.first_vs_later)):  # fmt: skip
            if comparison is None or comparison.ttft_p50_ratio_b_over_a is None:
                continue
            ci = comparison.ratio_ci
            out.append(
                m(key, name=source.name_of(entry), ratio=num(comparison.ttft_p50_ratio_b_over_a),
                  ci=f" [{num(ci[0])}, {num(ci[1])}]" if ci else "",
                  a=num(comparison.ttft_ms_a.p50), b=num(comparison.ttft_ms_b.p50))
            )  # fmt: skip
    return out


def _part_mean(entry: RunEntry, part: str) -> float | None:
    block = entry.run.decomposition
    stats = block.parts.get(part) if block is not None else None
    return stats.mean_ms if stats is not None else None


def prefill_sentences(source: ReportSource, m: Messages) -> list[str]:
    out = []
    steps = input_entries(source) if source.scenario("input-length") else []
    for target, (low, high) in _ends(steps).items():
        waits = [_part_mean(e, "first_token_wait") for e in (low, high)]
        if waits[0] is None or waits[1] is None:
            continue
        text = m("why.input", name=target, l1=low.input_tokens, l2=high.input_tokens,
                 w1=num(waits[0]), w2=num(waits[1]))  # fmt: skip
        prefill = [_part_mean(e, "prefill") for e in (low, high)]
        if prefill[0] is not None and prefill[1] is not None:
            text += " " + m("why.input_prefill", p1=num(prefill[0]), p2=num(prefill[1]))
        out.append(text)
    return out
