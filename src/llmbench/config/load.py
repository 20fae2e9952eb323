"""When to send, and which runs a study makes of it. A run's load is one of four kinds (closed
loop, open loop with its arrival process, ramp, trace replay) discriminated by `kind`; a study
(sweep, concurrency-sweep, input-sweep, slo-search, repeat) is a list of such runs, one per step.
Every numeric setting carries its sane range here, so bad input is refused with the field's name.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SerializerFunctionWrapHandler,
    Tag,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from llmbench.config.digest import with_digests, without_unknown

# Ranges: wide enough for any real benchmark, narrow enough that no value overflows a
# schedule, a timer or a JSON reader downstream.
MAX_CONCURRENCY = 100_000
MAX_RATE_PER_S = 1e6
MAX_REQUESTS = 100_000_000
WEEK_S = 7 * 24 * 3600.0
MAX_TOKENS = 10_000_000
MAX_WORKERS = 1024
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # seeds: any 64-bit integer


class Spec(BaseModel):
    # No inf/nan: no setting means anything at infinity, and run.json is strict JSON.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ValiditySpec(Spec):
    """When a run's delivered load is too far from the requested load to trust its numbers."""

    rate_tolerance: float = Field(0.1, gt=0, lt=1, description="achieved/planned rate ≥ 1 − this")
    late_after_ms: float = Field(
        10.0, gt=0, le=WEEK_S * 1000, description="a send later than this is late"
    )
    max_late_fraction: float = Field(0.05, ge=0, le=1)
    concurrency_tolerance: float = Field(0.1, gt=0, lt=1, description="closed loop, same rule")


class _Load(Spec):
    """What every kind of load has: its bound, warm-up, client processes and validity rule."""

    kind: str  # each kind's Literal; declared here so that it comes first in run.json
    requests: int | None = Field(
        None, ge=1, le=MAX_REQUESTS, description="measured requests (after warm-up)"
    )
    duration_s: float | None = Field(None, gt=0, le=WEEK_S, description="seconds of measured load")
    warmup: int = Field(
        0, ge=0, le=MAX_REQUESTS, description="warm-up requests, kept but not in statistics"
    )
    workers: int | None = Field(
        None,
        ge=1,
        le=MAX_WORKERS,
        description="client processes; None: chosen from the free CPUs and the load",
    )
    validity: ValiditySpec = Field(default_factory=ValiditySpec)

    @model_validator(mode="after")
    def _check_bound(self) -> _Load:
        if self.requests is None and self.duration_s is None and self.needs_bound:
            raise ValueError("give a bound: requests, duration_s, or both")
        return self

    @property
    def needs_bound(self) -> bool:
        return True

    @property
    def total_requests(self) -> int | None:
        """Requests to send, warm-up included (None: bounded by the duration)."""
        return None if self.requests is None else self.requests + self.warmup


def _cap() -> Any:
    return Field(
        None,
        ge=1,
        le=MAX_CONCURRENCY,
        description="open loop: cap on requests in flight (late sends counted)",
    )


class ClosedLoad(_Load):
    """`concurrency` streams, each sending its next request when the last one ends."""

    kind: Literal["closed"] = "closed"
    concurrency: int = Field(
        1, ge=1, le=MAX_CONCURRENCY, description="parallel streams (1: synchronous)"
    )


class OpenLoad(_Load):
    """Sends at planned times: `rate` requests/s spaced by the arrival process, at most
    `max_concurrency` in flight."""

    kind: Literal["open"] = "open"
    arrival: Literal["constant", "poisson", "gamma"] = Field(
        "poisson", description="gaps between sends: constant, poisson, or gamma (burstiness)"
    )
    rate: float = Field(gt=0, le=MAX_RATE_PER_S, description="requests/s")
    burstiness: float = Field(
        1.0, gt=0, le=1000, description="gamma shape: 1 Poisson, <1 burstier, >1 more regular"
    )
    max_concurrency: int | None = _cap()

    @field_validator("burstiness")
    @classmethod
    def _check_burstiness(cls, value: float, info: ValidationInfo) -> float:
        if value != 1.0 and info.data.get("arrival") != "gamma":
            raise ValueError("shapes the gamma arrival only: load.arrival gamma")
        return value


class RampLoad(_Load):
    """A linear rise over `duration_s`: of the send rate from `start_rate` to `rate` (open loop),
    or, without a rate, of closed-loop streams up to `concurrency`."""

    kind: Literal["ramp"] = "ramp"
    duration_s: float = Field(gt=0, le=WEEK_S, description="seconds the ramp rises over")
    rate: float | None = Field(
        None, gt=0, le=MAX_RATE_PER_S, description="requests/s at the end (None: ramp streams)"
    )
    start_rate: float = Field(0.0, ge=0, le=MAX_RATE_PER_S, description="requests/s at the start")
    concurrency: int = Field(1, ge=1, le=MAX_CONCURRENCY, description="streams at the end")
    max_concurrency: int | None = _cap()

    @field_validator("start_rate", "max_concurrency")
    @classmethod
    def _check_rate_ramp(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value and info.data.get("rate") is None:
            raise ValueError("applies to a ramp of the rate: give load.rate too")
        return value

    @property
    def open_loop(self) -> bool:
        return self.rate is not None


class ReplayLoad(_Load):
    """Sends a JSONL trace's requests at its timestamps × `time_scale` (default: all of them)."""

    kind: Literal["replay"] = "replay"
    trace: str = Field(min_length=1, description="replay: Mooncake-style JSONL trace")
    trace_sha256: str | None = Field(
        None, description="replay: the trace's SHA-256 when resolved (the workload's identity)"
    )
    time_scale: float = Field(
        1.0, gt=0, le=1e6, description="replay: multiply the trace's gaps (0.5 = twice as fast)"
    )
    max_concurrency: int | None = _cap()

    @model_validator(mode="before")
    @classmethod
    def _trace_by_contents(cls, data: Any) -> Any:
        return with_digests(data, {"trace": "trace_sha256"})

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return without_unknown(handler(self), ("trace_sha256",))

    @property
    def needs_bound(self) -> bool:
        return False


LOAD_KINDS = ("closed", "open", "ramp", "replay")


def _kind(value: Any) -> str:
    """The load's kind; a load that names none is a closed loop (the default)."""
    if isinstance(value, dict):
        return str(value.get("kind", "closed"))
    return str(getattr(value, "kind", "closed"))


LoadSpec = Annotated[
    Annotated[ClosedLoad, Tag("closed")]
    | Annotated[OpenLoad, Tag("open")]
    | Annotated[RampLoad, Tag("ramp")]
    | Annotated[ReplayLoad, Tag("replay")],
    Discriminator(_kind),
]
LOAD_MODELS: dict[str, type[_Load]] = {
    "closed": ClosedLoad,
    "open": OpenLoad,
    "ramp": RampLoad,
    "replay": ReplayLoad,
}


def is_open_loop(load: BaseModel) -> bool:
    """Sends at planned times: open, replay, and a ramp of the rate."""
    if isinstance(load, RampLoad):
        return load.open_loop
    return isinstance(load, OpenLoad | ReplayLoad)


class _Study(Spec):
    kind: str  # as for loads: first in run.json
    cooldown_s: float = Field(0.0, ge=0, le=WEEK_S, description="seconds between repeats / steps")


class RepeatStudy(_Study):
    """The same seeded run `count` times, and the spread across them."""

    kind: Literal["repeat"] = "repeat"
    count: int = Field(ge=2, le=10_000, description="run the same seeded workload K times")


class SweepStudy(_Study):
    """One synchronous step, one throughput step at the load's concurrency, then `steps` constant
    rates between the two steps' rates (each capped at `max_concurrency` in flight)."""

    kind: Literal["sweep"] = "sweep"
    steps: int = Field(5, ge=1, le=1000, description="sweep: rates between sync and max")
    max_concurrency: int | None = _cap()


class ConcurrencySweepStudy(_Study):
    """One closed-loop step per concurrency."""

    kind: Literal["concurrency-sweep"] = "concurrency-sweep"
    concurrencies: tuple[Annotated[int, Field(ge=1, le=MAX_CONCURRENCY)], ...] = Field(
        min_length=1, max_length=1000, description="concurrency-sweep: 1,2,4,..."
    )


class InputSweepStudy(_Study):
    """One step per prompt length, at the load's concurrency (latency against length)."""

    kind: Literal["input-sweep"] = "input-sweep"
    input_lengths: tuple[Annotated[int, Field(ge=1, le=MAX_TOKENS)], ...] = Field(
        min_length=1, max_length=1000, description="input-sweep: prompt tokens per step"
    )


class SloSearchStudy(_Study):
    """The highest load meeting the objectives: over the rate when the load is open (starting at
    its rate), over the concurrency when it is closed (starting at its concurrency)."""

    kind: Literal["slo-search"] = "slo-search"


StudySpec = Annotated[
    RepeatStudy | SweepStudy | ConcurrencySweepStudy | InputSweepStudy | SloSearchStudy,
    Field(discriminator="kind"),
]
STUDY_KINDS = ("repeat", "sweep", "concurrency-sweep", "input-sweep", "slo-search")


def profile_name(load: dict[str, Any]) -> str:
    """A stored load's one-word name as the reports print it: the version-1 profile names
    (`concurrency`, `poisson`, `ramp`, ...), read from either version's form."""
    if "profile" in load:
        return str(load["profile"])
    kind = str(load.get("kind", "closed"))
    if kind == "open":
        return str(load.get("arrival", "poisson"))
    return "concurrency" if kind == "closed" else kind
