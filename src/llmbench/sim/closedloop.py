"""Offline closed loop: `streams` clients each send their next request `think_s` after their
previous one ended, on the virtual clock, through one engine. What a measured concurrency run
would see from the twin (replaying its send times open-loop would overlap requests the real
clients never overlapped).
"""

from __future__ import annotations

import heapq

import numpy as np

from llmbench.sim.engine import AdmissionError, Engine
from llmbench.sim.offline import Prediction, RequestTiming
from llmbench.sim.params import Preset
from llmbench.sim.sequence import Seq


def predict_closed_loop(
    preset: Preset,
    *,
    streams: int,
    requests: int,
    input_tokens: int,
    output_tokens: int,
    think_s: float = 0.0,
    seed: int = 0,
) -> Prediction:
    """`requests` in all, the first `streams` at time 0; timings in send order."""
    if streams < 1 or requests < 1 or think_s < 0:
        raise ValueError("streams and requests must be >= 1, think_s >= 0")
    engine = Engine(preset, seed=seed)
    overhead_s = preset.engine.request_overhead_s
    free: list[tuple[float, int]] = [(0.0, k) for k in range(min(streams, requests))]
    in_flight: dict[int, Seq] = {}
    seqs: list[Seq] = []
    now_s = 0.0
    while len(seqs) < requests or in_flight:
        while free and len(seqs) < requests:
            sent_s, stream = heapq.heappop(free)
            seq = Seq(len(seqs), sent_s, sent_s + overhead_s, input_tokens, output_tokens)
            seqs.append(seq)
            try:
                engine.submit(seq)
                in_flight[stream] = seq
            except AdmissionError as exc:
                seq.state, seq.tag = "rejected", str(exc)
                heapq.heappush(free, (sent_s + think_s, stream))
        if not engine.busy and engine.pending:
            now_s = max(now_s, engine.pending[0].eligible_s)
        step = engine.plan(now_s)
        if step is not None:
            now_s = step.end_s
        for stream, seq in list(in_flight.items()):
            if seq.state == "finished":
                del in_flight[stream]
                heapq.heappush(free, ((seq.end_s or now_s) + think_s, stream))
    ends = np.asarray(engine.step_end_s, dtype=np.float64)
    return Prediction(
        [_timing(seq, ends, input_tokens) for seq in seqs],
        engine.step_index,
        engine.preemptions,
        engine.cold_starts,
    )


def _timing(seq: Seq, ends: np.ndarray, input_tokens: int) -> RequestTiming:
    if seq.state == "rejected" or not seq.token_steps:
        empty = np.empty(0, dtype=np.float64)
        return RequestTiming(seq.id, 0, seq.arrival_s, empty, input_tokens, 0, 0, seq.tag)
    token_s = np.concatenate([ends[r.start : r.stop] for r in seq.token_steps])
    return RequestTiming(
        seq.id, 0, seq.arrival_s, token_s, input_tokens, seq.generated, seq.cached_tokens or 0
    )
