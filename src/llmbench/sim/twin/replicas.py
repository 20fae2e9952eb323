"""Replicas behind a load balancer that sends each request to the engine with the fewest
outstanding requests (queued + running), all advanced side by side on one virtual clock.
"""

from __future__ import annotations

import math

from llmbench.sim.twin.engine import AdmissionError, Engine
from llmbench.sim.twin.sequence import Seq


class _Replica:
    __slots__ = ("engine", "now_s", "seqs")

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.now_s = 0.0
        self.seqs: list[Seq] = []

    @property
    def outstanding(self) -> int:
        return len(self.engine.running) + self.engine.queued

    def advance(self, until_s: float) -> None:
        """Run every step that starts at or before `until_s`."""
        engine = self.engine
        while True:
            if engine.busy:
                start_s = self.now_s
            elif engine.pending:
                start_s = max(self.now_s, engine.pending[0].eligible_s)
            else:
                return
            if start_s > until_s:
                return
            step = engine.plan(start_s)
            self.now_s = step.end_s if step is not None else start_s


def run_least_loaded(
    engines: list[Engine], arrivals_s: list[float], input_tokens: int, output_tokens: int
) -> list[list[Seq]]:
    """Each arrival goes to the replica with the fewest outstanding requests at that moment
    (ties: the lowest index); returns each replica's sequences."""
    replicas = [_Replica(engine) for engine in engines]
    for index, arrival_s in enumerate(arrivals_s):
        for replica in replicas:
            replica.advance(arrival_s)
        chosen = min(replicas, key=lambda r: r.outstanding)
        overhead_s = chosen.engine.preset.engine.request_overhead_s
        seq = Seq(index, arrival_s, arrival_s + overhead_s, input_tokens, output_tokens)
        try:
            chosen.engine.submit(seq)
        except AdmissionError as exc:
            seq.state, seq.tag = "rejected", str(exc)
        chosen.seqs.append(seq)
    for replica in replicas:
        replica.advance(math.inf)
    return [replica.seqs for replica in replicas]
