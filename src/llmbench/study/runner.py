"""Studies made of several runs under one parent directory: `sweep`, `concurrency-sweep`,
`input-sweep`, `slo-search` and `--repeat K`. Each step is a complete run directory;
`study.json` indexes the steps with their headline numbers. Steps run through `run_step`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from llmbench.config import RunSpec
from llmbench.config.run import STUDY_PROFILES
from llmbench.metrics.repeats import across_runs
from llmbench.run.execute import public_spec
from llmbench.store.run_schema import OpenLoopDelivery, RunResult
from llmbench.store.study_index import write_study_index
from llmbench.store.study_schema import (
    AcrossRuns,
    Headline,
    SearchInfo,
    StudyIndex,
    StudyStep,
    SweepInfo,
)
from llmbench.study.search import Probe, Verdict, classify, slo_search, sweep_rates

# Runs one spec into a fresh run directory and returns its run.json.
StepRunner = Callable[[RunSpec, Path], Awaitable[RunResult]]


def is_study(spec: RunSpec) -> bool:
    return spec.load.profile in STUDY_PROFILES or spec.load.repeat > 1


def step_spec(spec: RunSpec, *, input_tokens: int | None = None, **load: Any) -> RunSpec:
    """The spec of one step: the study's spec with load fields (and, for an input sweep, the
    input length) replaced, validated again."""
    base = spec.model_dump(mode="json")
    changes = {"repeat": 1, "concurrencies": None, "max_concurrency": None, "rate": None, **load}
    base["load"] = {**base["load"], **changes}
    length = {} if input_tokens is None else {"input_tokens": input_tokens}
    base["workload"] = {**base["workload"], "input_lengths": None, **length}
    return RunSpec.model_validate(base)


def _with_prompt_set(spec: RunSpec, step_index: int) -> RunSpec:
    """Step k sends the seed's prompt set k: a step that resent an earlier step's prompts would
    be served from a prefix-caching server's cache and measure the cache, not the load."""
    workload = spec.workload.model_copy(
        update={"prompt_set": spec.workload.prompt_set + step_index}
    )
    return spec.model_copy(update={"workload": workload})


def verdict_of(run: RunResult) -> Verdict:
    delivery = run.delivery
    return classify(
        met=run.goodput is not None and run.goodput.met,
        valid=run.validity is not None and run.validity.valid,
        latency_growth=delivery.latency_growth if isinstance(delivery, OpenLoopDelivery) else None,
        error_rate=run.summary.error_rate if run.summary is not None else None,
    )


def _good_fraction(run: RunResult) -> float | None:
    return run.goodput.good_fraction if run.goodput is not None else None


def _requests_per_s(run: RunResult) -> float | None:
    return run.summary.requests_per_s if run.summary is not None else None


class _Study:
    """The state of one study while it runs: its steps, and the index rewritten after each."""

    def __init__(
        self, spec: RunSpec, parent: Path, run_step: StepRunner, stop: asyncio.Event
    ) -> None:
        self.spec, self.parent, self.run_step, self.stop = spec, parent, run_step, stop
        self.runs: list[RunResult] = []
        self.index = StudyIndex(
            study=spec.load.profile if spec.load.repeat == 1 else "repeat",
            status="running",
            spec=public_spec(spec),
            spec_hash=spec.spec_hash(),
            steps=[],
        )

    def record(self, **blocks: Any) -> None:
        """Sets blocks of the index (steps, sweep, search, note, across_runs, status)."""
        self.index = self.index.model_copy(update=blocks)

    async def step(self, label: str, spec: RunSpec) -> RunResult:
        if self.runs and self.spec.load.cooldown_s > 0:
            with contextlib.suppress(TimeoutError):  # the cooldown is the wait's own timeout
                await asyncio.wait_for(self.stop.wait(), self.spec.load.cooldown_s)
        directory = self.parent / f"{len(self.runs) + 1:02d}-{label}"
        spec = _with_prompt_set(spec, len(self.runs))
        run = await self.run_step(spec, directory)
        self.runs.append(run)
        load = spec.load
        verdict = {} if spec.slo is None else {"verdict": verdict_of(run).value}
        row = StudyStep(
            step=len(self.runs),
            label=label,
            dir=directory.name,
            profile=load.profile,
            rate=load.rate,
            concurrency=None if load.open_loop else load.concurrency,
            input_tokens=spec.workload.input_tokens,
            status=run.status,
            valid=run.validity.valid if run.validity is not None else None,
            good_fraction=_good_fraction(run),
            **Headline.of(run).model_dump(),
            **verdict,
        )
        self.record(steps=[*self.index.steps, row])
        write_study_index(self.parent, self.index)
        return run

    @property
    def stopped(self) -> bool:
        return self.stop.is_set()


async def _sweep(study: _Study) -> None:
    load = study.spec.load
    sync_spec = step_spec(study.spec, profile="synchronous", concurrency=1)
    sync = await study.step("synchronous", sync_spec)
    if study.stopped:
        return
    top = await study.step(
        "throughput", step_spec(study.spec, profile="concurrency", concurrency=load.concurrency)
    )
    sync_rate, max_rate = _requests_per_s(sync), _requests_per_s(top)
    try:
        rates = sweep_rates(sync_rate or 0.0, max_rate or 0.0, load.sweep_rates)
    except ValueError as exc:
        study.record(note=str(exc))
        return
    study.record(sweep=SweepInfo(synchronous_per_s=sync_rate, max_per_s=max_rate, rates=rates))
    for rate in rates:
        if study.stopped:
            return
        cap = load.max_concurrency
        spec = step_spec(study.spec, profile="constant", rate=rate, max_concurrency=cap)
        await study.step(f"rate-{rate:.3g}", spec)


async def _concurrency_sweep(study: _Study) -> None:
    for concurrency in study.spec.load.concurrencies or ():
        if study.stopped:
            return
        spec = step_spec(study.spec, profile="concurrency", concurrency=concurrency)
        await study.step(f"c{concurrency}", spec)


async def _input_sweep(study: _Study) -> None:
    """One closed-loop step at the study's concurrency per input length (latency vs length)."""
    load = study.spec.load
    for length in study.spec.workload.input_lengths or ():
        if study.stopped:
            return
        spec = step_spec(
            study.spec, input_tokens=length, profile="concurrency", concurrency=load.concurrency
        )
        await study.step(f"in{length}", spec)


async def _search(study: _Study) -> None:
    load = study.spec.load
    by_rate = load.search == "rate"

    async def probe(value: float) -> Probe:
        if by_rate:
            cap = load.max_concurrency
            spec = step_spec(study.spec, profile="poisson", rate=value, max_concurrency=cap)
            label = f"rate-{value:.3g}"
        else:
            spec = step_spec(study.spec, profile="concurrency", concurrency=int(value))
            label = f"c{int(value)}"
        if study.stopped:
            return Probe(value, Verdict.OVERLOADED)  # no more runs: ends the search quickly
        run = await study.step(label, spec)
        return Probe(value, verdict_of(run), _good_fraction(run))

    start = load.rate if by_rate and load.rate else (1.0 if by_rate else load.concurrency)
    result = await slo_search(probe, start=start, integer=not by_rate)
    search = SearchInfo(
        over=load.search,
        best=result.best,
        attainment=study.spec.slo.attainment if study.spec.slo else None,
        probes=[(p.value, p.verdict.value, p.good_fraction) for p in result.probes],
    )
    study.record(search=search)


async def _repeat(study: _Study) -> None:
    for k in range(study.spec.load.repeat):
        if study.stopped:
            return
        await study.step(f"repeat-{k + 1}", step_spec(study.spec, **_single(study.spec)))
    rows = [Headline.of(run).model_dump() for run in study.runs]
    study.record(
        across_runs=AcrossRuns.model_validate(across_runs(rows, tuple(Headline.model_fields)))
    )


def _single(spec: RunSpec) -> dict[str, Any]:
    """The load fields a repeat keeps (step_spec resets the study-only ones)."""
    load = spec.load
    return {"rate": load.rate, "max_concurrency": load.max_concurrency}


async def run_study(
    spec: RunSpec, parent: Path, run_step: StepRunner, *, stop: asyncio.Event | None = None
) -> StudyIndex:
    """Runs every step of a study into `parent/NN-label/` and returns the final index."""
    study = _Study(spec, parent, run_step, stop or asyncio.Event())
    steps = {
        "sweep": _sweep,
        "concurrency-sweep": _concurrency_sweep,
        "input-sweep": _input_sweep,
        "slo-search": _search,
    }
    await steps.get(spec.load.profile, _repeat)(study)
    study.record(status="interrupted" if study.stopped else "complete")
    write_study_index(parent, study.index)
    return study.index
