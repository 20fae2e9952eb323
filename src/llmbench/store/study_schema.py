"""The typed model of study.json: a steps study (the steps of one target's sweep, search or
repeats, with their headline numbers) or a comparison study (`kind: comparison`: several targets ×
scenarios, the spec, the environment and every planned run with its status and numbers).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, field_serializer

from llmbench.config import RunSpec
from llmbench.config.study_file import StudyFile
from llmbench.store.run_schema import (
    Block,
    Distribution,
    Environment,
    RunResult,
    RunStatus,
    stored_spec,
)

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

    schema_version: Literal[2] = 2  # the store writes it first, whatever was set
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


# The comparison study (`llmbench study SPEC.yaml`): several targets × scenarios in one
# directory. Same study.json family, told apart by `kind: comparison` (a steps study has no
# `kind` key, as every study.json written before it).


class Brief(Block):
    """One latency metric of a run, as the seed's tables show it: mean, percentiles and the
    fluctuation range (min..max); None where the run has no sample."""

    n: int = Field(ge=0)
    mean: float | None
    p5: float | None
    p50: float | None
    p95: float | None
    p99: float | None
    min: float | None
    max: float | None

    @classmethod
    def of(cls, d: Distribution) -> Brief:
        return cls(
            n=d.n, mean=d.mean, p5=d.p5, p50=d.p50, p95=d.p95, p99=d.p99, min=d.min, max=d.max
        )


class RunHeadline(Block):
    """The numbers of one run a comparison starts from (run.json has the rest)."""

    ok: int
    errors: int
    error_rate: float | None
    requests_per_s: float | None
    output_tokens_per_s: float | None = Field(description="all output tokens / measured time")
    ttft_ms: Brief
    e2e_ms: Brief
    itl_ms: Brief
    request_output_tokens_per_s: Brief = Field(description="per request: tokens / its time")

    @classmethod
    def of(cls, run: RunResult) -> RunHeadline | None:
        s, counts = run.summary, run.counts
        if s is None or counts is None:
            return None
        return cls(
            ok=counts.ok,
            errors=counts.error,
            error_rate=s.error_rate,
            requests_per_s=s.requests_per_s,
            output_tokens_per_s=s.output_tokens_per_s,
            ttft_ms=Brief.of(s.ttft_ms),
            e2e_ms=Brief.of(s.e2e_ms),
            itl_ms=Brief.of(s.itl_ms),
            request_output_tokens_per_s=Brief.of(s.request_output_tokens_per_s),
        )


class ComparisonTarget(Block):
    """A target as the study saw it (no key: `api_key_env` names the variable only)."""

    name: str
    kind: str = Field(description="openai | sim | manus (more kinds as protocols land)")
    base_url: str | None = Field(description="without user:password; sim: where it listened")
    model: str | None
    preset: str | None = Field(description="sim: the twin preset")


class ComparisonScenario(Block):
    """A scenario and the steps it made, in order (`over`: what the steps vary)."""

    name: str
    kind: str
    over: str | None = Field(description="concurrency | input_tokens | rate; None: one step")
    steps: list[str]
    values: list[float | None]
    targets: list[str] = Field(description="the targets that support it, in the spec's order")


ComparisonRunStatus = Literal["pending", "running", "complete", "interrupted", "failed"]


class ComparisonRun(Block):
    """One run of the plan: planned `pending`, then the run's own status and numbers."""

    order: int = Field(ge=1, description="position in the (interleaved or seeded) order")
    target: str
    scenario: str
    step: str
    value: float | None = Field(description="the step's concurrency, input length or rate")
    repeat: int = Field(ge=1)
    dir: str = Field(description="the run directory, relative to the study directory")
    workload_hash: str = Field(description="equal for every target of a (scenario, step)")
    status: ComparisonRunStatus
    run_id: str | None = None
    headline: RunHeadline | None = None
    error: str | None = Field(None, description="why a failed run failed")


class ComparisonIndex(Block):
    """study.json of a comparison study, rewritten after each run."""

    schema_version: Literal[2] = 2  # the store writes it first, whatever was set
    kind: Literal["comparison"]
    name: str | None
    status: Literal["running", "complete", "interrupted"]
    spec: StudyFile
    spec_hash: str
    environment: Environment | None
    started_at: str
    finished_at: str | None
    targets: list[ComparisonTarget]
    scenarios: list[ComparisonScenario]
    runs: list[ComparisonRun]
    skipped: list[tuple[str, str, str]] = Field(
        description="[target, scenario, why] pairs not run: the target does not support it"
    )


def _study_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "comparison" if value.get("kind") == "comparison" else "steps"
    return "comparison" if isinstance(value, ComparisonIndex) else "steps"


AnyStudy = Annotated[
    Annotated[StudyIndex, Tag("steps")] | Annotated[ComparisonIndex, Tag("comparison")],
    Discriminator(_study_kind),
]
