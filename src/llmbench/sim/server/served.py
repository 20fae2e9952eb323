"""The twin on the wall clock behind the HTTP server: one engine-loop task plans a step, sleeps
until it ends, then hands each request's token (due at the step's end) to that request's
stream, which writes it at once through its sink (direct writes) or queues it for a writer
task that awaits its stream (faults, slow readers: `chunks`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence

from llmbench.sim.server.clock import DeadlineWaiter
from llmbench.sim.server.exposition import Histogram
from llmbench.sim.server.log import RequestLog
from llmbench.sim.twin.engine import Engine
from llmbench.sim.twin.params import Preset
from llmbench.sim.twin.sequence import Seq

NS_PER_S = 1_000_000_000
IDLE_RECHECK_S = 1.0
# A late hand-over joins the next step: its engine arrival is this long after the planned
# step's start (well above float and ns rounding, far below any step).
LATE_HANDOVER_S = 1e-6


class TwinStream:
    """One request's token deadlines, pushed by the engine loop, awaited by its writer."""

    __slots__ = (
        "_deadlines", "_wake", "done", "engine_arrival_ns", "log", "seq", "sink",
        "stall_after_chunks", "stall_ns",
    )  # fmt: skip

    def __init__(self) -> None:
        self._deadlines: deque[int] = deque()
        self._wake: asyncio.Future[None] | None = None
        self.done = False
        self.seq: Seq | None = None
        # The arrival the engine went by: the request's own, or later when the engine had
        # already planned the step it would have joined (see TwinRunner.submit).
        self.engine_arrival_ns = 0
        # A `stall_after:N:MS` fault: chunks from the (N+1)-th on are delivered `stall_ns` late.
        # Downstream of the engine: its schedule (and this sequence's KV blocks) are unchanged.
        self.stall_after_chunks: int | None = None
        self.stall_ns = 0
        # Writes a due token itself (True) or refuses it (False: it queues for `chunks`).
        self.sink: Callable[[int, bool], bool] | None = None
        # The request's log entry until its engine phases are written in (at its first token).
        self.log: RequestLog | None = None

    @property
    def cached_tokens(self) -> int:
        return (self.seq.cached_tokens or 0) if self.seq else 0

    def push(self, deadline_ns: int, last: bool) -> None:
        self.done = last
        if self.sink is not None:
            if self.sink(deadline_ns, last):
                return
            self.sink = None
        self._deadlines.append(deadline_ns)
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    def attach(self, sink: Callable[[int, bool], bool]) -> None:
        """From now on the engine loop hands each token to `sink`; queued ones go first."""
        deadlines = self._deadlines
        while deadlines:
            if not sink(deadlines[0], self.done and len(deadlines) == 1):
                return
            deadlines.popleft()
        self.sink = sink

    async def chunks(
        self, limit: int | None = None, tokens_per_chunk: int = 1
    ) -> AsyncIterator[tuple[int, int]]:
        """(deadline_ns, tokens) per chunk of `tokens_per_chunk` tokens (the last may be short),
        due when its last token is; at most `limit` chunks."""
        sent = 0
        count = 0
        stall_from = self.stall_after_chunks
        while limit is None or sent < limit:
            if self._deadlines:
                deadline_ns = self._deadlines.popleft()
                count += 1
                if count == tokens_per_chunk or (self.done and not self._deadlines):
                    if stall_from is not None and sent >= stall_from:
                        deadline_ns += self.stall_ns
                    sent += 1
                    yield deadline_ns, count
                    count = 0
                continue
            if self.done:
                return
            self._wake = asyncio.get_running_loop().create_future()
            await self._wake
            self._wake = None


class TwinRunner:
    """Owns the engine and its loop; `submit` is called by request handlers (same loop)."""

    def __init__(self, preset: Preset, seed: int, waiter: DeadlineWaiter) -> None:
        self.origin_ns = time.monotonic_ns()
        self.engine = Engine(preset, seed=seed, listener=self)
        self._ids = itertools.count(1)
        self._wake = asyncio.Event()
        self._waiter = waiter
        self._due: list[tuple[TwinStream, bool]] = []  # tokens of the step being run
        self._planned_s = -math.inf  # start of the last step planned
        self.finished = 0
        self.histograms = {name: Histogram() for name in _HISTOGRAMS}
        self.engine.on_finish = self._observe

    def seconds(self, t_ns: int) -> float:
        return (t_ns - self.origin_ns) / NS_PER_S

    def nanoseconds(self, t_s: float) -> int:
        return self.origin_ns + round(t_s * NS_PER_S)

    def submit(
        self,
        arrival_ns: int,
        prompt_tokens: int,
        max_tokens: int,
        words: Sequence[str] | None,
        reply_words: Sequence[str] | None = None,
    ) -> TwinStream:
        """Queue a request that reached the server at `arrival_ns`; AdmissionError if never."""
        stream = TwinStream()
        arrival_s = self.seconds(arrival_ns)
        overhead_s = self.engine.preset.engine.request_overhead_s
        # A request handed over after the engine planned a step it was eligible for (its
        # handler ran late on a busy host) joins the next step: the engine cannot undo a plan.
        # Its engine arrival is then just after that step's start, and logged, so the virtual
        # clock (`sim predict`, fed the logged arrivals) schedules exactly what was served.
        eligible_s = max(arrival_s + overhead_s, self._planned_s + LATE_HANDOVER_S)
        stream.engine_arrival_ns = self.nanoseconds(eligible_s - overhead_s)
        cached_words = tuple(words) if words is not None and self.engine.pool.caching else None
        seq = Seq(next(self._ids), arrival_s, eligible_s, prompt_tokens, max_tokens, cached_words)
        seq.tag = stream
        if reply_words is not None:
            seq.reply_words = tuple(reply_words)
        self.engine.submit(seq)
        stream.seq = seq
        self._wake.set()
        return stream

    def abort(self, stream: TwinStream) -> None:
        """The writer stopped early (client gone, cut fault): free the engine's resources."""
        seq = stream.seq
        if seq is not None and seq.state in ("waiting", "running"):
            self.engine.abort(seq, self.seconds(time.monotonic_ns()))

    def token(self, seq: Seq, end_s: float, last: bool) -> None:
        stream = seq.tag
        assert isinstance(stream, TwinStream)
        if stream.log is not None:  # its first token: the phases are known, and logged now
            self._log_phases(stream.log, seq, end_s)
            stream.log = None
        self._due.append((stream, last))

    def _log_phases(self, entry: RequestLog, seq: Seq, first_s: float) -> None:
        """The times `_observe` gives vLLM's histograms, on the log's ns clock: queued at
        eligible, admitted when first scheduled, first token at its step's end."""
        assert seq.admitted_s is not None
        entry.queued_ns = self.nanoseconds(seq.eligible_s)
        entry.admitted_ns = self.nanoseconds(seq.admitted_s)
        entry.first_token_ns = self.nanoseconds(first_s)
        entry.cached_tokens = seq.cached_tokens

    async def run(self) -> None:
        """The engine loop: plan a step at the previous step's end, sleep until it ends."""
        engine = self.engine
        next_s = self.seconds(time.monotonic_ns())
        sleep_until = self._waiter.sleep_until
        while True:
            if engine.busy:
                start_s = next_s
            elif engine.pending:
                start_s = max(next_s, engine.pending[0].eligible_s)
            else:
                self._wake.clear()
                # Bounded, as every wait: an idle engine looks again once a second.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(IDLE_RECHECK_S):
                        await self._wake.wait()
                continue
            await sleep_until(self.nanoseconds(start_s))
            step = engine.plan(start_s)
            self._planned_s = start_s
            if step is not None:
                next_s = step.end_s
                end_ns = self.nanoseconds(step.end_s)
                await sleep_until(end_ns)
                # Handed over when due, not when planned: each writer then wakes once per
                # token instead of twice (once for the hand-over, once for the deadline).
                due, self._due = self._due, []
                for stream, last in due:
                    stream.push(end_ns, last)

    def _observe(self, seq: Seq) -> None:
        """A finished request's phases, as vLLM's per-request histograms time them: queue from
        eligible (after the request overhead) to first scheduled, prefill from then to the
        first token, decode from the first token to the last, TTFT and e2e from arrival."""
        if seq.admitted_s is None or seq.end_s is None or not seq.token_steps:
            return
        first_s = self.engine.step_end_s[seq.token_steps[0].start]
        self.finished += 1
        for name, value in (
            ("vllm:request_queue_time_seconds", seq.admitted_s - seq.eligible_s),
            ("vllm:request_prefill_time_seconds", first_s - seq.admitted_s),
            ("vllm:request_decode_time_seconds", seq.end_s - first_s),
            ("vllm:time_to_first_token_seconds", first_s - seq.arrival_s),
            ("vllm:e2e_request_latency_seconds", seq.end_s - seq.arrival_s),
        ):
            self.histograms[name].observe(value)

    def metrics(self) -> dict[str, float]:
        """The gauges and counters `GET /metrics` exposes: the simulator's own names, then
        vLLM's for the same facts (prefix-cache counts in tokens, as vLLM counts them)."""
        engine = self.engine
        pool = engine.pool
        usage = pool.used / pool.capacity if pool.capacity else 0.0
        return {
            "llmbench_sim_queue_length": engine.queued,
            "llmbench_sim_running": len(engine.running),
            "llmbench_sim_kv_usage": usage,
            "llmbench_sim_prefix_hit_rate": pool.hit_rate,
            "llmbench_sim_steps_total": engine.step_index,
            "llmbench_sim_preemptions_total": engine.preemptions,
            "llmbench_sim_cold_starts_total": engine.cold_starts,
            "vllm:num_requests_running": len(engine.running),
            "vllm:num_requests_waiting": engine.queued,
            "vllm:kv_cache_usage_perc": usage,
            "vllm:prefix_cache_queries_total": pool.queried_blocks * engine.block,
            "vllm:prefix_cache_hits_total": pool.hit_blocks * engine.block,
            "vllm:num_preemptions_total": engine.preemptions,
            "vllm:request_success_total": self.finished,
        }


_HISTOGRAMS = (
    "vllm:request_queue_time_seconds",
    "vllm:request_prefill_time_seconds",
    "vllm:request_decode_time_seconds",
    "vllm:time_to_first_token_seconds",
    "vllm:e2e_request_latency_seconds",
)
