"""Multi-turn sessions on the virtual clock: each turn's prompt is the session's history (every
earlier prompt and answer) plus a new user message, sent `think_time_s` after the previous answer
ended, so a turn reuses the prefix cache while the history's blocks are still resident.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, replace

from llmbench.sim.twin.engine import AdmissionError, Engine
from llmbench.sim.twin.offline import Prediction, RequestTiming, timings_of
from llmbench.sim.twin.params import Preset
from llmbench.sim.twin.sequence import Seq
from llmbench.sim.twin.vocabulary import VOCABULARY


@dataclass(frozen=True, slots=True)
class SessionLoad:
    """Sessions starting at `starts_s`, `turns` turns each; token counts are per turn."""

    starts_s: list[float]
    turns: int
    think_time_s: float
    input_tokens: int  # the new user message of each turn
    output_tokens: int


def _message(session: int, turn: int, n: int) -> tuple[str, ...]:
    # Words unique to (session, turn): only the history can hit the cache, never chance.
    return tuple(f"s{session}t{turn}w{i}" for i in range(n))


def _answer(n: int) -> tuple[str, ...]:
    return tuple(VOCABULARY[i % len(VOCABULARY)] for i in range(n))  # what the engine caches


def run_sessions(
    engine: Engine, load: SessionLoad, sessions: list[int]
) -> list[tuple[Seq, int, int]]:
    """Every turn of `sessions` (indices into `load.starts_s`) through one engine.

    A turn arrives when the previous one has ended plus the think time; a refused turn (the
    history outgrew the model or the cache) ends its session. Returns (turn, session, turn
    number) in arrival order; a refused turn's `seq.tag` is the reason.
    """
    overhead_s = engine.preset.engine.request_overhead_s
    arrivals: list[tuple[float, int, int, tuple[str, ...]]] = [
        (load.starts_s[i], i, 0, _message(i, 0, load.input_tokens)) for i in sessions
    ]
    heapq.heapify(arrivals)
    out: list[tuple[Seq, int, int]] = []
    where: dict[int, tuple[int, int]] = {}

    def next_turn(seq: Seq) -> None:
        session, turn = where[seq.id]
        if turn + 1 < load.turns:
            assert seq.end_s is not None
            assert seq.words is not None
            words = seq.words + _answer(seq.generated)
            words += _message(session, turn + 1, load.input_tokens)
            heapq.heappush(arrivals, (seq.end_s + load.think_time_s, session, turn + 1, words))

    engine.on_finish = next_turn
    now_s = 0.0
    while arrivals or engine.busy:
        if not engine.busy:
            now_s = max(now_s, arrivals[0][0] + overhead_s)
        else:
            now_s = engine.decode_until(
                now_s, arrivals[0][0] + overhead_s if arrivals else math.inf
            )
        while arrivals and arrivals[0][0] + overhead_s <= now_s:
            arrival_s, session, turn, words = heapq.heappop(arrivals)
            seq = Seq(len(out), arrival_s, arrival_s + overhead_s, len(words), load.output_tokens,
                      words)  # fmt: skip
            out.append((seq, session, turn))
            where[seq.id] = session, turn
            try:
                engine.submit(seq)
            except AdmissionError as exc:
                seq.state, seq.tag = "rejected", str(exc)
        step = engine.plan(now_s)
        if step is not None:
            now_s = step.end_s
    engine.on_finish = None
    return out


def predict_sessions(
    preset: Preset, load: SessionLoad, *, replicas: int = 1, seed: int = 0
) -> Prediction:
    """The sessions of `load`, session i on replica i mod K (sticky: its history is cached
    there); requests are numbered in arrival order."""
    if preset.timing == "fixed":
        raise ValueError(
            "sessions need a preset with an engine (timing roofline), not fixed timing"
        )
    if replicas < 1 or load.turns < 1:
        raise ValueError("replicas and turns must be >= 1")
    engines = [Engine(preset, seed=seed + 1_000_003 * r) for r in range(replicas)]
    out: list[RequestTiming] = []
    for replica, engine in enumerate(engines):
        turns = run_sessions(engine, load, list(range(replica, len(load.starts_s), replicas)))
        timings = timings_of([seq for seq, _, _ in turns], replica, engine.step_end_s, 0)
        out += [
            replace(t, prompt_tokens=seq.prompt_tokens, session=session, turn=turn)
            for t, (seq, session, turn) in zip(timings, turns, strict=True)
        ]
    out.sort(key=lambda t: (t.arrival_s, t.replica))
    out = [replace(t, index=i) for i, t in enumerate(out)]
    return Prediction(
        out,
        sum(e.step_index for e in engines),
        sum(e.preemptions for e in engines),
        sum(e.cold_starts for e in engines),
    )
