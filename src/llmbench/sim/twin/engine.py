"""The discrete-event serving engine: vLLM-like continuous batching (running first, then waiting
within the token budget, chunked prefill, KV blocks with a watermark, preemption by recompute)
or static batching. It never reads a clock: callers pass the time in float seconds, so the same
code runs on a virtual clock (offline) and on the wall clock (served).
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from llmbench.sim.twin.kvcache import BlockPool, block_hashes
from llmbench.sim.twin.params import Preset
from llmbench.sim.twin.sequence import Seq
from llmbench.sim.twin.static import StaticBatcher
from llmbench.sim.twin.steptime import StepCost
from llmbench.sim.twin.vocabulary import VOCABULARY


class AdmissionError(ValueError):
    """A request that can never fit (KV capacity or model length); refused at submission."""


class TokenListener(Protocol):
    """Told of each token as its step is planned (served mode streams them at `end_s`)."""

    def token(self, seq: Seq, end_s: float, last: bool) -> None: ...


@dataclass(frozen=True, slots=True)
class Step:
    index: int
    start_s: float
    end_s: float
    n_seqs: int
    tokens: int


class Engine:
    """Submit sequences, then `plan(now_s)` one step at a time; see docs/simulator.md."""

    def __init__(
        self, preset: Preset, *, seed: int = 0, listener: TokenListener | None = None
    ) -> None:
        e = preset.engine
        self.preset = preset
        self.block = e.block_tokens
        self.pool = BlockPool(
            preset.total_kv_blocks(),
            caching=e.prefix_cache,
            ttl_s=e.cache_ttl_s,
            min_cacheable_tokens=e.min_cacheable_tokens,
            block_tokens=e.block_tokens,
        )
        self.cost = StepCost(preset, random.Random(f"engine/{seed}"))
        self.listener = listener
        self.on_finish: Callable[[Seq], None] | None = None  # told when a sequence ends
        self.pending: deque[Seq] = deque()  # submitted, not yet eligible at the last step
        self.waiting: deque[Seq] = deque()
        self.running: dict[int, Seq] = {}  # admission order: preemption takes the last
        self.decoding: dict[int, Seq] = {}
        self.prefilling: dict[int, Seq] = {}
        self._finish: list[tuple[int, int, int, Seq]] = []  # (step, id, version, seq)
        self._residue = [0] * self.block  # decoders by (c0 − s0) mod block
        self.sum_ctx = 0
        self.sum_ctx_sq = 0
        self.step_index = 0
        self.step_end_s: list[float] = []
        self.last_busy_s = 0.0
        self.cold = e.start_cold  # the model is not loaded yet
        self.cold_starts = 0
        self.preemptions = 0
        self.static = StaticBatcher(self) if e.batching == "static" else None
        self._token_budget = e.max_batched_tokens

    # -- submission -------------------------------------------------------------------------

    def submit(self, seq: Seq) -> None:
        """Queue a sequence that becomes eligible at `seq.eligible_s`; AdmissionError if never."""
        limit = self.preset.model.max_model_len
        total = seq.prompt_tokens + seq.max_tokens
        if total > limit:
            raise AdmissionError(f"prompt + max_tokens = {total} exceeds the model length {limit}")
        e = self.preset.engine
        if e.batching == "continuous" and not e.chunked_prefill and total > e.max_batched_tokens:
            raise AdmissionError(
                f"prompt + max_tokens = {total} exceeds the step token budget "
                f"{e.max_batched_tokens} and chunked prefill is off"
            )
        if -(-total // self.block) > self.pool.capacity:
            raise AdmissionError(
                f"prompt + max_tokens = {total} tokens can never fit the KV cache "
                f"({self.pool.capacity * self.block} tokens)"
            )
        if seq.words is not None and self.pool.caching:
            seq.hashes = block_hashes(seq.words, self.block)
        self.pending.append(seq)

    def abort(self, seq: Seq, now_s: float) -> None:
        """Drop a sequence wherever it is (its client went away), freeing its blocks."""
        if seq.state == "waiting":
            for queue in (self.pending, self.waiting):
                if seq in queue:
                    queue.remove(seq)
        elif seq.state == "running" and self.static is not None:
            self.static.abort(seq)
        elif seq.state == "running":
            self._stop(seq, now_s)
        seq.state = "aborted"

    @property
    def busy(self) -> bool:
        return bool(self.running or self.waiting)

    @property
    def queued(self) -> int:
        return len(self.waiting) + len(self.pending)

    # -- one step ---------------------------------------------------------------------------

    def plan(self, now_s: float) -> Step | None:
        """Schedule and complete the step starting at `now_s`; None when there is nothing to do.

        The step's outcome is fixed when it is planned (tokens, finishes, preemptions); the
        caller waits until `end_s` before planning the next one.
        """
        while self.pending and self.pending[0].eligible_s <= now_s:
            self.waiting.append(self.pending.popleft())
        if not self.busy:
            return None
        start_s = self._warm_up(now_s)
        if self.static is not None:
            return self.static.step(start_s)
        return self._continuous_step(start_s)

    def decode_until(self, now_s: float, horizon_s: float) -> float:
        """Offline fast path: run the decode-only steps that start before `horizon_s` (the next
        arrival) exactly as `plan` would, with the aggregates in locals; returns when the next
        step starts. Stops at any step that would admit, prefill or preempt.
        """
        if self.listener is not None:
            return now_s
        if self.static is not None:
            return self.static.decode_until(now_s) if self.running else now_s
        if self.waiting:
            return now_s
        pool, residue, block, decoding = self.pool, self._residue, self.block, self.decoding
        base_seconds, noisy = self.cost.base_seconds, self.cost.noisy
        append_end, finish = self.step_end_s.append, self._finish
        pending = self.pending
        horizon_s = min(horizon_s, pending[0].eligible_s) if pending else horizon_s
        s, sum_ctx, sum_ctx_sq = self.step_index, self.sum_ctx, self.sum_ctx_sq
        while now_s < horizon_s and decoding and not self.prefilling:
            need = residue[(-s) % block]
            if need <= pool.free:  # the usual case, without a call
                pool.free -= need
            elif not pool.take(need):
                break  # a decoder needs a block: `plan` preempts
            n_dec = len(decoding)
            end_s = now_s + noisy(base_seconds(n_dec, sum_ctx, sum_ctx_sq, ()))
            append_end(end_s)
            sum_ctx_sq += 2 * sum_ctx + n_dec
            sum_ctx += n_dec
            s += 1
            now_s = self.last_busy_s = end_s
            if finish and finish[0][0] < s:  # a sequence ends: hand the state back
                self.step_index, self.sum_ctx, self.sum_ctx_sq = s, sum_ctx, sum_ctx_sq
                self._finish_due(s - 1, end_s)
                sum_ctx, sum_ctx_sq = self.sum_ctx, self.sum_ctx_sq
                if self.on_finish is not None:
                    break  # its caller may have a new arrival before the horizon
        self.step_index, self.sum_ctx, self.sum_ctx_sq = s, sum_ctx, sum_ctx_sq
        return now_s

    def _warm_up(self, now_s: float) -> float:
        e = self.preset.engine
        idle = bool(e.idle_timeout_s) and now_s - self.last_busy_s >= e.idle_timeout_s
        if not self.running and (self.cold or idle):
            self.cold = False
            self.cold_starts += 1
            return now_s + e.cold_start_s
        return now_s

    def _continuous_step(self, start_s: float) -> Step:
        s = self.step_index
        preempted = self._grow_decoders(s, start_s)
        budget = self._token_budget - len(self.decoding)
        prefills: list[tuple[Seq, int]] = []
        # Most steps are decode-only: skip the prefill and admission work when there is none.
        if self.prefilling:
            budget = self._continue_prefills(budget, prefills)
        if self.waiting and not preempted:
            self._admit(budget, start_s, prefills)
        if not prefills and not self.decoding and self.prefilling:
            # Partial prefills hold every block between them and none can grow: recompute the
            # newest, as vLLM would, so the oldest can finish (else the engine spins forever).
            self._preempt(self.running[next(reversed(self.running))], s, start_s)
        n_dec = len(self.decoding)
        chunks = [(n, seq.computed) for seq, n in prefills] if prefills else ()
        base_s = self.cost.base_seconds(n_dec, self.sum_ctx, self.sum_ctx_sq, chunks)
        end_s = start_s + self.cost.noisy(base_s)
        self._complete(s, end_s, prefills)
        tokens = n_dec + sum(n for _, n in prefills) if prefills else n_dec
        return Step(s, start_s, end_s, n_dec + len(prefills), tokens)

    def _continue_prefills(self, budget: int, prefills: list[tuple[Seq, int]]) -> int:
        """Running sequences still prefilling get the next chunk, in admission order."""
        for seq in list(self.prefilling.values()):
            if budget <= 0:
                break
            n = self._chunk(seq, seq.computed, budget)
            if n and self.pool.take(self._new_blocks(seq.computed, n)):
                prefills.append((seq, n))
                budget -= n
        return budget

    def _new_blocks(self, computed: int, n: int) -> int:
        b = self.block
        return -(-(computed + n) // b) - -(-computed // b)

    def _grow_decoders(self, s: int, now_s: float) -> bool:
        """Each decoder whose next token starts a block needs one; preempt until they fit."""
        preempted = False
        while True:
            need = self._residue[(-s) % self.block]
            if self.pool.take(need):
                return preempted
            victim = self.running[next(reversed(self.running))]
            self._preempt(victim, s, now_s)
            preempted = True

    def _admit(self, budget: int, now_s: float, prefills: list[tuple[Seq, int]]) -> int:
        e = self.preset.engine
        reserve = int(e.watermark * self.pool.capacity)
        while self.waiting and budget > 0 and len(self.running) < e.max_seqs:
            seq = self.waiting[0]
            hit = self._match(seq, now_s)
            n = self._chunk(seq, hit * self.block, budget)
            if not n:
                break
            need = -(-(hit * self.block + n) // self.block) - hit
            # The hit's unreferenced blocks count as available but must not be evicted to
            # make room for the rest of this very prompt.
            hit_hashes = seq.hashes[:hit] if seq.hashes and hit else ()
            available = self.pool.available - self.pool.evictable(hit_hashes)
            if available - need < reserve and self.running:
                break
            if need > available:
                break
            self.waiting.popleft()
            self._start(seq, hit, now_s)  # references the hit: off the LRU list
            taken = self.pool.take(need)
            assert taken
            prefills.append((seq, n))
            budget -= n
        return budget

    def _match(self, seq: Seq, now_s: float) -> int:
        if not seq.hashes:
            return 0
        usable = (seq.target - 1) // self.block  # at least one token must be computed
        return self.pool.match(seq.hashes[:usable], now_s)

    def _chunk(self, seq: Seq, computed: int, budget: int) -> int:
        remaining = seq.target - computed
        if self.preset.engine.chunked_prefill:
            return min(remaining, budget)
        return remaining if remaining <= budget else 0

    def _start(self, seq: Seq, hit: int, now_s: float) -> None:
        assert seq.hashes is not None or hit == 0
        seq.held = seq.hashes[:hit] if seq.hashes else []
        self.pool.acquire(seq.held)
        seq.computed = hit * self.block
        if seq.cached_tokens is None:
            seq.cached_tokens = seq.computed
            seq.admitted_s = now_s
        seq.state = "running"
        self.running[seq.id] = seq
        self.prefilling[seq.id] = seq

    # -- completion -------------------------------------------------------------------------

    def _complete(self, s: int, end_s: float, prefills: Sequence[tuple[Seq, int]]) -> None:
        self.step_end_s.append(end_s)
        self.step_index = s + 1
        self.last_busy_s = end_s
        listener = self.listener
        if listener is not None:
            for seq in self.decoding.values():
                listener.token(seq, end_s, seq.finish_step == s)
        n_dec = len(self.decoding)
        self.sum_ctx_sq += 2 * self.sum_ctx + n_dec
        self.sum_ctx += n_dec
        self._finish_due(s, end_s)
        for seq, n in prefills:
            seq.computed += n
            if seq.computed == seq.target:
                self._first_of_run(seq, s, end_s)

    def _finish_due(self, s: int, end_s: float) -> None:
        """Decoders whose last token came out in step `s` finish (stale heap entries skipped)."""
        while self._finish and self._finish[0][0] <= s:
            _, _, version, seq = heapq.heappop(self._finish)
            if version == seq.version and seq.id in self.decoding:
                seq.token_steps.append(range(seq.s0, s + 1))
                seq.generated = seq.g0 + s + 1 - seq.s0
                self._finish_seq(seq, end_s)

    def _first_of_run(self, seq: Seq, s: int, end_s: float) -> None:
        """A (re)computed prompt yields the next token; then the sequence decodes."""
        seq.generated += 1
        seq.token_steps.append(range(s, s + 1))
        last = seq.generated >= seq.max_tokens
        if self.listener is not None:
            self.listener.token(seq, end_s, last)
        if last:
            self._finish_seq(seq, end_s)
            return
        del self.prefilling[seq.id]
        seq.s0, seq.c0, seq.g0 = s + 1, seq.computed, seq.generated
        seq.version += 1
        seq.finish_step = seq.s0 + seq.max_tokens - seq.g0 - 1
        heapq.heappush(self._finish, (seq.finish_step, seq.id, seq.version, seq))
        self._residue[(seq.c0 - seq.s0) % self.block] += 1
        self.sum_ctx += seq.c0
        self.sum_ctx_sq += seq.c0 * seq.c0
        self.decoding[seq.id] = seq

    def _leave_decoding(self, seq: Seq, s: int) -> None:
        """Take a decoder out of the aggregates; `s` is the first step it no longer runs."""
        del self.decoding[seq.id]
        ctx = seq.c0 + s - seq.s0
        self._residue[(seq.c0 - seq.s0) % self.block] -= 1
        self.sum_ctx -= ctx
        self.sum_ctx_sq -= ctx * ctx
        seq.computed = ctx
        seq.version += 1

    def _finish_seq(self, seq: Seq, end_s: float) -> None:
        if seq.id in self.decoding:
            self._leave_decoding(seq, self.step_index)
        seq.end_s = end_s
        seq.state = "finished"
        self._release(seq, end_s)
        if self.on_finish is not None:
            self.on_finish(seq)

    def _stop(self, seq: Seq, now_s: float) -> None:
        if seq.id in self.decoding:
            seq.token_steps.append(range(seq.s0, self.step_index))
            seq.generated = seq.g0 + self.step_index - seq.s0
            self._leave_decoding(seq, self.step_index)
        self._release(seq, now_s)

    def _preempt(self, seq: Seq, s: int, now_s: float) -> None:
        """Recompute: free everything, requeue first; the prompt grows by what it generated."""
        self._stop(seq, now_s)
        self.preemptions += 1
        seq.preemptions += 1
        seq.computed = 0
        seq.state = "waiting"
        self.waiting.appendleft(seq)

    def _release(self, seq: Seq, now_s: float) -> None:
        del self.running[seq.id]
        self.prefilling.pop(seq.id, None)
        total = -(-seq.computed // self.block)
        private = total - len(seq.held)
        register: list[int] = []
        if self.pool.caching and seq.words is not None:
            full = seq.computed // self.block
            reply = seq.reply_words or ()
            words = list(seq.words) + [
                reply[i] if i < len(reply) else VOCABULARY[i % len(VOCABULARY)]
                for i in range(seq.generated)
            ]
            register = block_hashes(words[: full * self.block], self.block)[len(seq.held) :]
        self.pool.release(seq.held, private, register, now_s)
        seq.held = []
