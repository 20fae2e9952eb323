"""Offline what-if: the engine on a virtual clock under seeded Poisson arrivals, spread round-robin
over replicas. Returns plain per-request timings (float seconds from the start of the load);
the CLI turns them into llmbench records, so predictions share the measured runs' summary.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from llmbench.sim.twin.engine import AdmissionError, Engine
from llmbench.sim.twin.params import Preset
from llmbench.sim.twin.replicas import run_least_loaded
from llmbench.sim.twin.sequence import Seq

FloatArray = npt.NDArray[np.float64]
Routing = Literal["round-robin", "least-loaded"]


@dataclass(frozen=True, slots=True)
class RequestTiming:
    """One predicted request; `token_s` holds the time of every output token (one per chunk)."""

    index: int
    replica: int
    arrival_s: float
    token_s: FloatArray
    prompt_tokens: int
    output_tokens: int
    cached_tokens: int
    error: str | None = None
    session: int | None = None  # multi-turn sessions: which session, and its turn (0 first)
    turn: int = 0

    @property
    def first_token_s(self) -> float | None:
        return float(self.token_s[0]) if len(self.token_s) else None

    @property
    def end_s(self) -> float | None:
        return float(self.token_s[-1]) if len(self.token_s) else None


@dataclass(frozen=True, slots=True)
class Prediction:
    requests: list[RequestTiming]
    steps: int
    preemptions: int
    cold_starts: int


def poisson_arrivals(rate_per_s: float, duration_s: float, seed: int) -> list[float]:
    """Arrival times of a Poisson process on [0, duration_s)."""
    if rate_per_s <= 0 or duration_s <= 0:
        raise ValueError("rate and duration must be > 0")
    rng = random.Random(f"arrivals/{seed}")
    times: list[float] = []
    t = rng.expovariate(rate_per_s)
    while t < duration_s:
        times.append(t)
        t += rng.expovariate(rate_per_s)
    return times


def predict(
    preset: Preset,
    arrivals_s: list[float],
    *,
    input_tokens: int,
    output_tokens: int,
    replicas: int = 1,
    seed: int = 0,
    routing: Routing = "round-robin",
) -> Prediction:
    """Every request of `arrivals_s` through `replicas` engines: request i → replica i mod K
    (round-robin), or to the one with the fewest outstanding requests (least-loaded)."""
    if replicas < 1:
        raise ValueError("replicas must be >= 1")
    if routing not in ("round-robin", "least-loaded"):
        raise ValueError(f"routing must be round-robin or least-loaded, got {routing!r}")
    if preset.timing == "fixed":  # requests never interact: routing changes nothing
        out = [
            _fixed(preset, i, i % replicas, t, input_tokens, output_tokens)
            for i, t in enumerate(arrivals_s)
        ]
        return Prediction(out, 0, 0, 0)
    # Replica 0 draws the noise a served twin with the same seed draws.
    engines = [Engine(preset, seed=seed + 1_000_003 * r) for r in range(replicas)]
    if routing == "least-loaded":
        per_replica = run_least_loaded(engines, arrivals_s, input_tokens, output_tokens)
    else:
        indexed = list(enumerate(arrivals_s))
        per_replica = [
            _run(engine, indexed[r::replicas], input_tokens, output_tokens)
            for r, engine in enumerate(engines)
        ]
    out = []
    for replica, (engine, seqs) in enumerate(zip(engines, per_replica, strict=True)):
        out += timings_of(seqs, replica, engine.step_end_s, input_tokens)
    out.sort(key=lambda r: r.index)
    return Prediction(
        out,
        sum(e.step_index for e in engines),
        sum(e.preemptions for e in engines),
        sum(e.cold_starts for e in engines),
    )


def _run(
    engine: Engine, arrivals: list[tuple[int, float]], input_tokens: int, output_tokens: int
) -> list[Seq]:
    overhead_s = engine.preset.engine.request_overhead_s
    seqs = [Seq(i, t, t + overhead_s, input_tokens, output_tokens, tag=None) for i, t in arrivals]
    now_s = 0.0
    nxt = 0
    plan, submit, decode_until = engine.plan, engine.submit, engine.decode_until
    while nxt < len(seqs) or engine.busy:
        if not engine.busy:
            now_s = max(now_s, seqs[nxt].eligible_s)
        else:  # most steps only decode: run them in a tight loop up to the next arrival
            now_s = decode_until(now_s, seqs[nxt].eligible_s if nxt < len(seqs) else math.inf)
        while nxt < len(seqs) and seqs[nxt].eligible_s <= now_s:
            seq = seqs[nxt]
            nxt += 1
            try:
                submit(seq)
            except AdmissionError as exc:
                seq.state, seq.tag = "rejected", str(exc)
        step = plan(now_s)
        if step is not None:
            now_s = step.end_s
    return seqs


def timings_of(
    seqs: list[Seq], replica: int, step_end_s: list[float], input_tokens: int
) -> list[RequestTiming]:
    """Every sequence's token times, gathered from the step ends in one numpy pass: each
    request's `token_s` is a view into one array (per-request slicing and concatenation cost
    more than the simulation of an hour of load)."""
    starts: list[int] = []
    lengths: list[int] = []
    for seq in seqs:
        for r in seq.token_steps:
            starts.append(r.start)
            lengths.append(r.stop - r.start)
    n = np.asarray(lengths, dtype=np.int64)
    first = np.cumsum(n) - n  # where each range begins in the gathered array
    steps = np.arange(int(n.sum()), dtype=np.int64) + np.repeat(
        np.asarray(starts, dtype=np.int64) - first, n
    )
    token_all = np.asarray(step_end_s, dtype=np.float64)[steps]
    out: list[RequestTiming] = []
    append = out.append
    at = 0
    for seq in seqs:
        # Ranges of one sequence are consecutive in `token_all`; the last one ends its tokens.
        end = at + seq.generated if seq.token_steps else at
        if seq.state == "rejected":
            append(RequestTiming(seq.id, replica, seq.arrival_s, token_all[at:end], input_tokens,
                                 0, 0, seq.tag))  # fmt: skip
        else:
            append(RequestTiming(seq.id, replica, seq.arrival_s, token_all[at:end], input_tokens,
                                 seq.generated, seq.cached_tokens or 0))  # fmt: skip
        at = end
    assert at == token_all.size, "a sequence's token steps do not add up to its tokens"
    return out


def _fixed(
    preset: Preset, index: int, replica: int, arrival_s: float, prompt: int, output: int
) -> RequestTiming:
    fixed = preset.fixed
    first_s = arrival_s + preset.engine.request_overhead_s + fixed.ttft_s
    token_s = first_s + fixed.itl_s * np.arange(output, dtype=np.float64)
    return RequestTiming(index, replica, arrival_s, token_s, prompt, output, 0)
