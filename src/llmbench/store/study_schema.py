"""The typed model of study.json (schema_version 1): the steps of a study with their headline
numbers, and the sweep, search or across-runs block its kind has.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_serializer

from llmbench.config import RunSpec
from llmbench.store.run_schema import Block, RunResult, RunStatus, stored_spec

# A step's verdict (llmbench.study.search.Verdict, whose values these are: the study layer sits
# above the store).
VerdictName = Literal["stable", "backlogged", "overloaded", "invalid"]


class Headline(Block):
    """The statistics compared across runs and steps (None where the run has none)."""

    requests_per_s: float | None
    output_tokens_per_s: float | None
    ttft_p50_ms: float | None
    ttft_p99_ms: float | None
    itl_p50_ms: float | None
    itl_p99_ms: float | None
    e2e_p50_ms: float | None
    e2e_p99_ms: float | None

    @classmethod
    def of(cls, run: RunResult) -> Headline:
        s = run.summary
        if s is None:
            return cls.model_validate(dict.fromkeys(cls.model_fields))
        return cls(
            requests_per_s=s.requests_per_s,
            output_tokens_per_s=s.output_tokens_per_s,
            ttft_p50_ms=s.ttft_ms.p50,
            ttft_p99_ms=s.ttft_ms.p99,
            itl_p50_ms=s.itl_ms.p50,
            itl_p99_ms=s.itl_ms.p99,
            e2e_p50_ms=s.e2e_ms.p50,
            e2e_p99_ms=s.e2e_ms.p99,
        )


class StudyStep(Block):
    """One step: which run directory, its load, whether it held, and its headline numbers
    (the `Headline` fields, flat)."""

    step: int = Field(ge=1)
    label: str
    dir: str
    profile: str
    rate: float | None
    concurrency: int | None
    input_tokens: int
    status: RunStatus
    valid: bool | None
    good_fraction: float | None
    requests_per_s: float | None
    output_tokens_per_s: float | None
    ttft_p50_ms: float | None
    ttft_p99_ms: float | None
    itl_p50_ms: float | None
    itl_p99_ms: float | None
    e2e_p50_ms: float | None
    e2e_p99_ms: float | None
    verdict: VerdictName | None = Field(None, description="with objectives only")


class SweepInfo(Block):
    synchronous_per_s: float | None
    max_per_s: float | None
    rates: list[float]


class SearchInfo(Block):
    over: Literal["rate", "concurrency"]
    best: float | None = Field(description="highest stable value; None: none of those tried")
    attainment: float | None
    probes: list[tuple[float, VerdictName, float | None]] = Field(
        description="[value, verdict, good_fraction] in the order tried"
    )


class AcrossStat(Block):
    n: int
    mean: float | None
    std: float | None
    cv: float | None
    mean_ci: tuple[float, float] | None = Field(description="Student-t interval of the mean")


class AcrossRuns(Block):
    requests_per_s: AcrossStat
    output_tokens_per_s: AcrossStat
    ttft_p50_ms: AcrossStat
    ttft_p99_ms: AcrossStat
    itl_p50_ms: AcrossStat
    itl_p99_ms: AcrossStat
    e2e_p50_ms: AcrossStat
    e2e_p99_ms: AcrossStat


class StudyIndex(Block):
    """study.json, rewritten after each step."""

    schema_version: Literal[1] = 1  # the store writes it first, whatever was set
    study: str = Field(description="the profile, or `repeat`")
    status: Literal["running", "complete", "interrupted"]
    spec: RunSpec
    spec_hash: str
    steps: list[StudyStep]
    note: str | None = None
    sweep: SweepInfo | None = None
    search: SearchInfo | None = None
    across_runs: AcrossRuns | None = None

    @field_serializer("spec")
    def _spec(self, spec: RunSpec) -> dict[str, Any]:
        return stored_spec(spec)
