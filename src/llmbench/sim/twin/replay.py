"""Replays of measured loads through the engine on the virtual clock. A closed loop: `streams`
clients each send their next request `think_s` after their previous one ended (replaying its
send times open-loop would overlap requests the real clients never overlapped). An open loop:
the given arrival times. Prompt lengths per request (measured cache hits can be left out, and
lengths may vary), output lengths per request or one for all.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import numpy as np

from llmbench.sim.twin.engine import AdmissionError, Engine
from llmbench.sim.twin.offline import Prediction, RequestTiming
from llmbench.sim.twin.params import Preset
from llmbench.sim.twin.sequence import Seq

Outputs = int | Sequence[int]  # one output length for every request, or one per request


class _Driver:
    """Builds, submits and finally times the sequences of one replay."""

    def __init__(
        self, preset: Preset, prompts: Sequence[int], outputs: Outputs, prefix: int, seed: int
    ) -> None:
        outputs = [outputs] * len(prompts) if isinstance(outputs, int) else list(outputs)
        if len(outputs) != len(prompts):
            raise ValueError("one output length per prompt (or one for all)")
        if min(prompts, default=1) < 1 or min(outputs, default=1) < 1 or prefix < 0:
            raise ValueError("prompt and output tokens must be >= 1, prefix_tokens >= 0")
        self.engine = Engine(preset, seed=seed)
        self.prompts, self.outputs = prompts, outputs
        self.overhead_s = preset.engine.request_overhead_s
        self.shared = tuple(f"shared{i}" for i in range(prefix))
        self.seqs: list[Seq] = []

    def send(self, sent_s: float) -> Seq:
        """The next request, sent at `sent_s`; its first `prefix` tokens are shared."""
        index = len(self.seqs)
        prompt = self.prompts[index]
        shared = self.shared[:prompt]
        words = shared + tuple(f"r{index}-{i}" for i in range(prompt - len(shared)))
        seq = Seq(index, sent_s, sent_s + self.overhead_s, prompt, self.outputs[index], words)
        self.seqs.append(seq)
        try:
            self.engine.submit(seq)
        except AdmissionError as exc:
            seq.state, seq.tag = "rejected", str(exc)
        return seq

    def step(self, now_s: float) -> float:
        engine = self.engine
        if not engine.busy and engine.pending:
            now_s = max(now_s, engine.pending[0].eligible_s)
        step = engine.plan(now_s)
        return step.end_s if step is not None else now_s

    def prediction(self) -> Prediction:
        ends = np.asarray(self.engine.step_end_s, dtype=np.float64)
        timings = [_timing(seq, ends) for seq in self.seqs]
        engine = self.engine
        return Prediction(timings, engine.step_index, engine.preemptions, engine.cold_starts)


def replay_closed_loop(
    preset: Preset,
    *,
    streams: int,
    prompts: Sequence[int],
    output_tokens: Outputs,
    think_s: float = 0.0,
    prefix_tokens: int = 0,
    seed: int = 0,
    send_spacing_s: float = 0.0,
) -> Prediction:
    """One request per entry of `prompts` (its prompt tokens), the first `streams` at time 0;
    timings in send order. Every prompt starts with the same `prefix_tokens` tokens.

    A client sends requests that are due together one after another, `send_spacing_s` apart
    (its own time per send): an idle engine starts a step with the first and the others wait
    for the next one, which is what a served twin does (a measured c = 4 closed loop: the first
    request's TTFT 35 ms, the other three's 77-90 ms; replayed all at once, 88 ms each)."""
    if streams < 1 or not prompts or think_s < 0 or send_spacing_s < 0:
        raise ValueError("streams and requests must be >= 1, think_s and send_spacing_s >= 0")
    driver = _Driver(preset, prompts, output_tokens, prefix_tokens, seed)
    free: list[tuple[float, int]] = [(0.0, k) for k in range(min(streams, len(prompts)))]
    in_flight: dict[int, Seq] = {}
    now_s = 0.0
    last_sent_s = -send_spacing_s
    while len(driver.seqs) < len(prompts) or in_flight:
        while free and len(driver.seqs) < len(prompts):
            sent_s, stream = heapq.heappop(free)
            sent_s = last_sent_s = max(sent_s, last_sent_s + send_spacing_s)
            seq = driver.send(sent_s)
            if seq.state == "rejected":
                heapq.heappush(free, (sent_s + think_s, stream))
            else:
                in_flight[stream] = seq
        now_s = driver.step(now_s)
        for stream, seq in list(in_flight.items()):
            if seq.state == "finished":
                del in_flight[stream]
                heapq.heappush(free, ((seq.end_s or now_s) + think_s, stream))
    return driver.prediction()


def replay_arrivals(
    preset: Preset,
    arrivals_s: Sequence[float],
    *,
    prompts: Sequence[int],
    output_tokens: Outputs,
    prefix_tokens: int = 0,
    seed: int = 0,
) -> Prediction:
    """One request per arrival time (sorted), with the prompt tokens of `prompts` (and the
    output tokens of `output_tokens`, one per request or one for all)."""
    if len(arrivals_s) != len(prompts):
        raise ValueError("one prompt length per arrival")
    driver = _Driver(preset, prompts, output_tokens, prefix_tokens, seed)
    engine = driver.engine
    now_s = 0.0
    for arrival_s in arrivals_s:
        # Every step that starts before this arrival (an idle engine jumps to its next
        # eligible request); the arrival joins the first step planned after it.
        while now_s < arrival_s and (
            engine.busy or (engine.pending and engine.pending[0].eligible_s < arrival_s)
        ):
            now_s = driver.step(now_s)
        driver.send(arrival_s)
    while engine.busy or engine.pending:
        now_s = driver.step(now_s)
    return driver.prediction()


def _timing(seq: Seq, ends: np.ndarray) -> RequestTiming:
    if seq.state == "rejected" or not seq.token_steps:
        empty = np.empty(0, dtype=np.float64)
        return RequestTiming(seq.id, 0, seq.arrival_s, empty, seq.prompt_tokens, 0, 0, seq.tag)
    token_s = np.concatenate([ends[r.start : r.stop] for r in seq.token_steps])
    return RequestTiming(
        seq.id, 0, seq.arrival_s, token_s, seq.prompt_tokens, seq.generated, seq.cached_tokens or 0
    )
