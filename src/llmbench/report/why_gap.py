"""Where a gap in mean E2E went, from the decompositions of two runs: between the fastest and
the slowest target of the headline runs, and between the lowest and highest concurrency step of
each target. The part whose mean moved most in the gap's direction is named with its share of
the gap ("the gap is 80 % queue wait"); only parts both runs split the same way are compared.
"""

from __future__ import annotations

from llmbench.monitor.decomposition import Decomposition
from llmbench.report.messages import Messages
from llmbench.report.source import ReportSource, RunEntry
from llmbench.report.tables import num, pct

# Of run.json files without `decomposition.additive`: the parts that add up to E2E (the send
# lag comes before it); queue and prefill replaced the first-token wait when histograms split it.
E2E_PARTS = ("ttfb", "first_token_wait", "decode", "after_headers")
SPLIT_PARTS = ("ttfb", "queue_wait", "prefill", "decode", "after_headers")


def stacked_parts(decomposition: Decomposition) -> list[tuple[str, float]]:
    """(part, mean ms) of the parts whose means add up to the mean E2E (as the block names
    them; older files by their part names)."""
    parts = decomposition.parts
    names = decomposition.additive or (SPLIT_PARTS if "queue_wait" in parts else E2E_PARTS)
    return [
        (name, mean)
        for name in names
        if name in parts and (mean := parts[name].mean_ms) is not None
    ]


# A gap smaller than this share of the faster run's mean E2E is noise, not a finding.
MIN_GAP_SHARE = 0.05


def _mean_e2e(entry: RunEntry) -> float | None:
    summary = entry.run.summary
    return summary.e2e_ms.mean if summary is not None else None


def gap_sentence(a: RunEntry, b: RunEntry, names: tuple[str, str], m: Messages) -> str | None:
    """`b` against `a`: the gap in mean E2E and the part that carries most of it."""
    e2e_a, e2e_b = _mean_e2e(a), _mean_e2e(b)
    block_a, block_b = a.run.decomposition, b.run.decomposition
    if e2e_a is None or e2e_b is None or block_a is None or block_b is None:
        return None
    gap = e2e_b - e2e_a
    if abs(gap) < MIN_GAP_SHARE * min(e2e_a, e2e_b):
        return None
    parts_a, parts_b = dict(stacked_parts(block_a)), dict(stacked_parts(block_b))
    moves = {p: parts_b[p] - parts_a[p] for p in parts_a.keys() & parts_b.keys()}
    if not moves:
        return None
    part = max(moves, key=lambda p: moves[p] * (1 if gap > 0 else -1))
    return m("why.gap", b=names[1], a=names[0], gap=num(abs(gap)),
             dir=m("why.slower" if gap > 0 else "why.faster"), share=pct(moves[part] / gap),
             part=m(f"part.{part}"), pb=num(parts_b[part]), pa=num(parts_a[part]))  # fmt: skip


def _by_target(entries: list[RunEntry]) -> dict[str, list[RunEntry]]:
    out: dict[str, list[RunEntry]] = {}
    for entry in entries:
        out.setdefault(entry.target, []).append(entry)
    return out


def gap_sentences(source: ReportSource, m: Messages) -> list[str]:
    """Between targets (fastest vs slowest headline run) and along each target's concurrency
    steps (lowest vs highest)."""
    out = []
    headline = [e for e in source.headline_entries() if _mean_e2e(e) is not None]
    if len({e.target for e in headline}) >= 2:
        ranked = sorted(headline, key=lambda e: _mean_e2e(e) or 0.0)
        fast, slow = ranked[0], ranked[-1]
        out.append(gap_sentence(fast, slow, (fast.target, slow.target), m))
    steps = sorted(source.scenario("concurrency"), key=lambda e: e.concurrency or 0)
    for target, runs in _by_target(steps).items():
        if len(runs) >= 2:
            low, high = runs[0], runs[-1]
            names = (f"{target} c={low.concurrency}", f"{target} c={high.concurrency}")
            out.append(gap_sentence(low, high, names, m))
    return [s for s in out if s is not None]
