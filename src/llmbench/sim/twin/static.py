"""Static batching (HF `generate`-style): a batch forms only when the engine is empty, is padded
to its longest prompt, and holds every slot until its longest output ends; later arrivals wait
for the whole batch (head-of-line blocking).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmbench.sim.twin.engine import Engine, Step
    from llmbench.sim.twin.sequence import Seq


class StaticBatcher:
    """Plans the steps of a static-batching engine; owns the current batch."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._batch: list[Seq] = []
        self._prompt = 0  # the padded prompt length of the batch
        self._blocks = 0
        self._decode_steps = 0

    def step(self, start_s: float) -> Step:
        from llmbench.sim.twin.engine import Step

        engine = self._engine
        s = engine.step_index
        if not self._batch:
            self._form(start_s)
            n = len(self._batch)
            base_s = engine.cost.base_seconds(0, 0.0, 0.0, [(self._prompt, 0)] * n)
            tokens = n * self._prompt
        else:
            n = len(self._batch)
            ctx = self._prompt + self._decode_steps
            base_s = engine.cost.base_seconds(n, float(n * ctx), float(n * ctx * ctx), [])
            self._decode_steps += 1
            tokens = n
        end_s = start_s + engine.cost.noisy(base_s)
        engine.step_end_s.append(end_s)
        engine.step_index = s + 1
        engine.last_busy_s = end_s
        self._emit(end_s)
        return Step(s, start_s, end_s, n, tokens)

    def decode_until(self, now_s: float) -> float:
        """Offline fast path: the current batch's decode steps before any member finishes, as
        `step` would run them (arrivals meanwhile only wait: they cannot join the batch)."""
        engine, batch = self._engine, self._batch
        running = [seq for seq in batch if seq.state == "running"]
        if not running:
            return now_s
        steps = min(seq.max_tokens - seq.generated for seq in running) - 1  # the last: `step`
        n, prompt = len(batch), self._prompt
        base_seconds, noisy = engine.cost.base_seconds, engine.cost.noisy
        append_end = engine.step_end_s.append
        for k in range(self._decode_steps, self._decode_steps + steps):
            ctx = prompt + k
            now_s += noisy(base_seconds(n, float(n * ctx), float(n * ctx * ctx), []))
            append_end(now_s)
        if steps > 0:
            self._decode_steps += steps
            engine.step_index += steps
            engine.last_busy_s = now_s
            for seq in running:
                seq.generated += steps
        return now_s

    def _form(self, now_s: float) -> None:
        engine = self._engine
        block = engine.block
        longest_prompt = longest_output = 0
        while engine.waiting and len(self._batch) < engine.preset.engine.max_seqs:
            seq = engine.waiting[0]
            prompt = max(longest_prompt, seq.prompt_tokens)
            output = max(longest_output, seq.max_tokens)
            blocks = (len(self._batch) + 1) * -(-(prompt + output) // block)
            if self._batch and blocks > engine.pool.capacity:
                break
            engine.waiting.popleft()
            longest_prompt, longest_output = prompt, output
            self._batch.append(seq)
        self._prompt = longest_prompt
        self._blocks = len(self._batch) * -(-(longest_prompt + longest_output) // block)
        engine.pool.take(self._blocks)
        self._decode_steps = 0
        s = engine.step_index
        for seq in self._batch:
            seq.state, seq.cached_tokens, seq.admitted_s = "running", 0, now_s
            seq.token_steps = [range(s, s + seq.max_tokens)]
            engine.running[seq.id] = seq

    def _emit(self, end_s: float) -> None:
        engine = self._engine
        done = 0
        for seq in self._batch:
            if seq.state != "running":
                done += 1
                continue
            seq.generated += 1
            last = seq.generated >= seq.max_tokens
            if engine.listener is not None:
                engine.listener.token(seq, end_s, last)
            if last:
                seq.state, seq.end_s = "finished", end_s
                done += 1
                if engine.on_finish is not None:
                    engine.on_finish(seq)
        if done == len(self._batch):
            for seq in self._batch:
                engine.running.pop(seq.id, None)
            engine.pool.give_back(self._blocks)
            self._batch = []

    def abort(self, seq: Seq) -> None:
        """A batch member whose client left stays as padding until the batch ends."""
        seq.state = "aborted"
