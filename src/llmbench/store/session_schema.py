"""The typed `sessions` block of run.json: per-turn statistics, per-session roll-ups and the
comparisons of a multi-turn session run (definitions in docs/metrics.md, "Sessions")."""

from __future__ import annotations

from pydantic import Field

from llmbench.store.blocks import Block


class Brief(Block):
    """n, mean, P50, P95 of one sample (a percentile is null where n does not support it)."""

    n: int = Field(ge=0)
    mean: float | None
    p50: float | None
    p95: float | None


class CachedShare(Block):
    requests_reporting: int = Field(description="ok requests whose usage gave cached_tokens")
    cached_tokens: int
    prompt_tokens: int = Field(description="the denominator: their usage.prompt_tokens")
    share: float | None = Field(description="cached_tokens / prompt_tokens; null: none reported")
    basis: str


class TurnStats(Block):
    turn: int = Field(ge=0, description="turn index from 0")
    n: int = Field(description="ok requests")
    errors: int
    ttft_ms: Brief
    e2e_ms: Brief
    prompt_tokens_mean: float | None
    cached: CachedShare


class SessionRollup(Block):
    """Over the measured sessions that finished ok (failed and cancelled ones are counted)."""

    sessions: int
    ok: int
    failed: int
    cancelled: int
    duration_s: Brief = Field(description="first turn sent to last reply's end")
    think_s: Brief = Field(description="sum of the think waits between turns")
    model_s: Brief = Field(description="duration minus think waits")
    turns_per_s: Brief = Field(description="turns / duration, one value per session")


class TtftComparison(Block):
    a: str
    b: str
    ttft_ms_a: Brief
    ttft_ms_b: Brief
    prompt_tokens_mean_a: float | None
    prompt_tokens_mean_b: float | None
    ttft_p50_ratio_b_over_a: float | None
    ratio_ci: tuple[float, float] | None = Field(description="bootstrap 95%, seeded")


class SessionsBlock(Block):
    sessions: int = Field(description="measured sessions planned")
    turns: int
    think_time_s: float
    think_time_stddev_s: float = 0.0
    cache_bust: str
    cache_bust_nonce: str | None = Field(description="this run's unique part of the bust word")
    per_turn: list[TurnStats]
    per_session: SessionRollup
    first_vs_later: TtftComparison | None
    new_vs_continued: TtftComparison | None = Field(
        description="no cached prefix vs a cached one; null: no response reported cached_tokens"
    )
