"""The terminal view of a session run's `sessions` block: one row per turn index, the
per-session roll-up, and the first-vs-later and new-vs-continued comparisons."""

from __future__ import annotations

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from llmbench.store.run_schema import RunResult
from llmbench.store.session_schema import Brief, SessionsBlock, TtftComparison

TURN_CAPTION = (
    "cached: usage cached_tokens / prompt_tokens over the requests reporting it (–: none did). "
    "P95 needs n >= 20"
)


def _num(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def turn_table(block: SessionsBlock) -> Table:
    title = f"Per turn ({block.sessions} sessions x {block.turns} turns"
    title += f", think {block.think_time_s:g} s" if block.think_time_s else ""
    title += f", cache-bust {block.cache_bust})" if block.cache_bust != "off" else ")"
    table = Table(title=title, caption=TURN_CAPTION, caption_justify="left", title_justify="left")
    for name in ("turn", "n", "errors", "TTFT mean", "TTFT P50", "TTFT P95", "E2E P50",
                 "E2E P95", "prompt tok", "cached"):  # fmt: skip
        table.add_column(name, justify="right", no_wrap=True)
    for row in block.per_turn:
        share = row.cached.share
        table.add_row(
            str(row.turn), str(row.n), str(row.errors),
            _num(row.ttft_ms.mean), _num(row.ttft_ms.p50), _num(row.ttft_ms.p95),
            _num(row.e2e_ms.p50), _num(row.e2e_ms.p95), _num(row.prompt_tokens_mean, 0),
            "–" if share is None else f"{share:.0%}",
        )  # fmt: skip
    return table


def _brief(label: str, b: Brief, unit: str) -> str:
    value = f"{_num(b.p50, 2)} {unit}".rstrip()
    return f"{label} P50 {value} (mean {_num(b.mean, 2)}, n {b.n})"


def _comparison(label: str, c: TtftComparison | None) -> list[Text]:
    if c is None:
        return []
    ratio = c.ttft_p50_ratio_b_over_a
    ci = f" [{c.ratio_ci[0]:.2f}–{c.ratio_ci[1]:.2f}]" if c.ratio_ci else ""
    text = (
        f"{label}: TTFT P50 {_num(c.ttft_ms_a.p50)} ms ({c.a}, n {c.ttft_ms_a.n}, "
        f"{_num(c.prompt_tokens_mean_a, 0)} prompt tok) vs {_num(c.ttft_ms_b.p50)} ms "
        f"({c.b}, n {c.ttft_ms_b.n}, {_num(c.prompt_tokens_mean_b, 0)} prompt tok): "
        f"ratio {_num(ratio, 2)}{ci}"
    )
    return [Text(text)]


def session_lines(run: RunResult | None) -> list[RenderableType]:
    """Nothing unless the run was a session run."""
    if run is None or run.sessions is None:
        return []
    block = run.sessions
    s = block.per_session
    roll = (
        f"sessions {s.sessions}: ok {s.ok}, failed {s.failed}, cancelled {s.cancelled}; "
        f"{_brief('duration', s.duration_s, 's')}; {_brief('think', s.think_s, 's')}; "
        f"{_brief('turns/s', s.turns_per_s, '')}"
    )
    out: list[RenderableType] = [turn_table(block), Text(roll)]
    out += _comparison("first vs later turns", block.first_vs_later)
    out += _comparison("new vs continued", block.new_vs_continued)
    return out
