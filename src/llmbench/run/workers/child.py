"""One worker process: its own uvloop event loop, HTTP connection pool and client watch, sending
its share of the load from the common start. It announces each request before sending it and
streams records back, each as its records.jsonl line and its column row; a stop message (or the
parent's end) cancels what is in flight.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import os
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, cast

from llmbench.clients.a2a import A2AClient
from llmbench.clients.anthropic import AnthropicClient
from llmbench.clients.engines import force_length_fields
from llmbench.clients.openai import OpenAIClient
from llmbench.clients.tokens import Tokenizer, load_tokenizer
from llmbench.config import RunSpec
from llmbench.config.run import TARGET_KINDS, EngineName
from llmbench.engine.closed_loop import PhaseOutcome, RunOutcome, StopReason, run_closed_loop
from llmbench.engine.loop import loop_factory
from llmbench.engine.open_loop import PacingStats, pace_until, run_open_loop
from llmbench.errors import ConfigError, LlmbenchError
from llmbench.metrics.columns import column_row
from llmbench.monitor.client_health import ClientWatch
from llmbench.records import RequestRecord, RequestSpec, SendContext
from llmbench.redaction import redact
from llmbench.run.plan import build_load
from llmbench.run.workers.share import WorkerShare, worker_share
from llmbench.run.workers.wire import Outbox, open_channel, read_frame, record_message
from llmbench.store.results import record_line

START_TIMEOUT_S = 120.0  # the parent waits for every worker to be ready, then says when to start


@dataclass(frozen=True, slots=True)
class WorkerTask:
    """What a worker is told at spawn (pickled: plain values only)."""

    worker_id: int
    workers: int
    spec_json: str
    base_url: str
    model: str
    target_id: str
    api_key: str | None = None
    engine: str | None = None  # the engine the parent resolved (flag or detected)


# The target kinds this build can drive, each by its own client (docs/agent-services.md).
IMPLEMENTED_KINDS = ("openai", "anthropic", "a2a", "manus", "task-api")

# AnthropicClient is an OpenAIClient (the same machinery, its own protocol); A2AClient submits
# tasks (run/task_protocol.py drives it).
RunClient = OpenAIClient | A2AClient


def check_target_kind(spec: RunSpec) -> None:
    """A ConfigError naming the kinds that work, for a kind this build cannot drive yet."""
    kind = spec.target.kind
    if kind not in IMPLEMENTED_KINDS:
        raise ConfigError(
            f"target kind {kind!r} is not implemented in this build",
            where="target.kind (--target-kind)",
            hint=f"use one of: {', '.join(IMPLEMENTED_KINDS)} "
            f"(the kinds defined: {', '.join(TARGET_KINDS)})",
        )
    if kind == "openai":
        return
    if spec.tasks is not None and kind in ("a2a", "manus", "task-api"):
        raise ConfigError(
            f"--tasks runs model calls; a {kind} target takes tasks, not model calls",
            where="tasks (--tasks)",
            hint="drop --tasks, or use --target-kind openai or anthropic",
        )
    if spec.workload.force_length:  # nothing to send: say so rather than ignore the flag
        raise ConfigError(
            f"--force-length sends a serving engine's fields; a {kind} target has none",
            where="workload.force_length (--force-length)",
            hint="drop --force-length (docs/agent-services.md)",
        )
    if spec.target.endpoint != "chat":
        raise ConfigError(
            f"--endpoint {spec.target.endpoint} is an OpenAI endpoint; a {kind} target has its own",
            where="target.endpoint (--endpoint)",
            hint="drop --endpoint",
        )


def make_client(
    spec: RunSpec,
    base_url: str,
    model: str,
    *,
    api_key: str | None,
    connection_limit: int,
    tokenizer: Tokenizer | None,
    engine: str | None = None,
) -> RunClient:
    """The run's client for its target kind, as the parent (one process) or each worker builds
    it; with --force-length, `engine`'s fields force every request's length (None: nothing)."""
    check_target_kind(spec)
    target = spec.target
    retries = target.retry_429_attempts if target.retry_429 else 1
    answer_ms = spec.task_api.answer_after_ms
    if target.kind == "a2a":  # a task: the agent-service settings' timeout, polls, answers
        return A2AClient(
            base_url=base_url, api_key=api_key, extra_headers=target.extra_headers,
            stream=target.stream, request_timeout_s=spec.task_api.task_timeout_s,
            connection_limit=connection_limit,
            poll_interval_s=spec.task_api.poll_interval_ms / 1000,
            answer_after_s=None if answer_ms is None else answer_ms / 1000,
        )  # fmt: skip
    if target.kind == "anthropic":
        return AnthropicClient(
            base_url=base_url, model=model, api_key=api_key, extra_headers=target.extra_headers,
            extra_body=target.extra_body, stream=target.stream,
            request_timeout_s=target.request_timeout_s, connection_limit=connection_limit,
            tokenizer=tokenizer, retry_429_attempts=retries,
            retry_429_max_wait_s=target.retry_429_max_wait_s,
        )  # fmt: skip
    force = None
    if spec.workload.force_length and engine is not None:
        force = force_length_fields(cast(EngineName, engine))
    return OpenAIClient(
        base_url=base_url,
        model=model,
        endpoint=target.endpoint,
        api_key=api_key,
        extra_headers=target.extra_headers,
        extra_body=target.extra_body,
        stream=target.stream,
        request_timeout_s=target.request_timeout_s,
        connection_limit=connection_limit,
        tokenizer=tokenizer,
        retry_429_attempts=retries,
        retry_429_max_wait_s=target.retry_429_max_wait_s,
        force_fields=force,
    )


# A record's absolute times (the rest are offsets from them, or durations).
_ABSOLUTE_NS = (
    "scheduled_ns", "sent_ns", "headers_ns", "first_token_ns", "first_content_ns", "end_ns",
    "first_sent_ns",
)  # fmt: skip


def on_parent_clock(record: RequestRecord, offset_ns: int) -> RequestRecord:
    """The record with its absolute times moved onto the parent's clock (`offset_ns`: this
    worker's monotonic clock minus the parent's); durations stay this clock's own differences.
    Unchanged (the same object) on the parent's host, where the offset is 0."""
    if offset_ns == 0:
        return record
    moved = {
        name: value - offset_ns
        for name in _ABSOLUTE_NS
        if (value := getattr(record, name)) is not None
    }
    return dataclasses.replace(record, **moved)


class _Announcing:
    """Tells the parent about each request just before it goes out, so that a request in
    flight when this process dies is counted (`worker_lost`), never lost."""

    def __init__(self, client: OpenAIClient, outbox: Outbox, offset_ns: int) -> None:
        self._client = client
        self._outbox = outbox
        self._offset_ns = offset_ns

    async def send(self, spec: RequestSpec, ctx: SendContext) -> RequestRecord:
        offset = self._offset_ns  # the parent makes any `worker_lost` record on its own clock
        self._outbox.now(
            {
                "t": "sent", "id": ctx.request_id, "item": spec.item_id,
                "scheduled_ns": ctx.scheduled_ns - offset, "sent_ns": time.monotonic_ns() - offset,
                "warmup": ctx.warmup, "session": spec.session_id,
                "turn": spec.turn, "task": spec.task_id, "step": spec.step_id,
                "input_tokens": spec.input_tokens, "max_tokens": spec.max_tokens,
            }
        )  # fmt: skip
        return await self._client.send(spec, ctx)


def phase_dict(phase: PhaseOutcome | None, offset_ns: int = 0) -> dict[str, Any] | None:
    if phase is None:
        return None
    return {
        "started_ns": phase.started_ns - offset_ns,
        "ended_ns": phase.ended_ns - offset_ns,
        "sent": phase.sent,
        "stop_reason": phase.stop_reason.value,
    }


async def _control(reader: asyncio.StreamReader, stop: asyncio.Event) -> None:
    """Sets `stop` on the parent's stop message, or when the parent is gone (EOF)."""
    try:
        while True:
            messages, _ = await read_frame(reader)
            if any(m["t"] == "stop" for m in messages):
                break
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    stop.set()


async def _run_share(
    share: WorkerShare,
    client: _Announcing,
    task: WorkerTask,
    outbox: Outbox,
    *,
    stop: asyncio.Event,
    start_ns: int,
    offset_ns: int,
) -> tuple[RunOutcome, PacingStats]:
    pacing = PacingStats()

    def sink(record: RequestRecord) -> None:
        # The line as the one-process path writes it, and the row its columns take: the parent
        # appends both as they are, decoding nothing of the record.
        record = on_parent_clock(record, offset_ns)
        outbox.later(*record_message(record_line(record), column_row(record)))

    if share.open is not None:
        outcome = await run_open_loop(
            client, share.items, share.open, target_id=task.target_id, sink=sink, stop=stop,
            stats=pacing, start_ns=start_ns, worker_id=task.worker_id,
        )  # fmt: skip
        return outcome, pacing
    assert share.closed is not None
    await pace_until(start_ns, time.monotonic_ns)
    outcome = await run_closed_loop(
        client, share.items, share.closed, target_id=task.target_id, sink=sink, stop=stop,
        id_group=task.worker_id + 1, worker_id=task.worker_id,  # ids unique across workers
    )  # fmt: skip
    return outcome, pacing


async def _wait_start(reader: asyncio.StreamReader) -> tuple[int, int] | None:
    """The common start on this process's monotonic clock and the clock's offset from the
    parent's, or None when the parent stops or goes first."""
    try:
        async with asyncio.timeout(START_TIMEOUT_S):
            messages, _ = await read_frame(reader)
            for message in messages:
                if message["t"] == "start":
                    return int(message["start_ns"]), int(message.get("offset_ns", 0))
    except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
        pass
    return None


async def _work(task: WorkerTask, outbox: Outbox, reader: asyncio.StreamReader) -> None:
    spec = RunSpec.model_validate_json(task.spec_json)
    share = worker_share(build_load(spec), task.worker_id, task.workers)
    tokenizer = load_tokenizer(spec.tokenizer) if spec.tokenizer else None
    stop = asyncio.Event()
    async with (
        make_client(
            spec, task.base_url, task.model, api_key=task.api_key,
            connection_limit=share.connection_limit, tokenizer=tokenizer, engine=task.engine,
        ) as client,
        ClientWatch() as watch,
    ):  # fmt: skip
        # a task-protocol target is an agent workload: it runs in one process, never here
        assert isinstance(client, OpenAIClient)
        warmed = await client.open_connections(share.warm_connections)
        outbox.now({"t": "ready", "pid": os.getpid(), "warmed": warmed})
        start = await _wait_start(reader)
        outcome, pacing = RunOutcome(None, None, StopReason.INTERRUPTED), PacingStats()
        cpu_before_s = time.process_time()
        late_ns, offset_ns = None, 0
        if start is not None:  # None: stopped before the start
            start_ns, offset_ns = start
            await pace_until(start_ns, time.monotonic_ns)
            late_ns = time.monotonic_ns() - start_ns  # this worker's part of the start skew
            async with asyncio.TaskGroup() as group:
                control = group.create_task(_control(reader, stop))
                outcome, pacing = await _run_share(
                    share, _Announcing(client, outbox, offset_ns), task, outbox, stop=stop,
                    start_ns=start_ns, offset_ns=offset_ns,
                )  # fmt: skip
                control.cancel()
    done = _done(outcome, pacing, watch, time.process_time() - cpu_before_s, offset_ns)
    outbox.now({**done, "start_late_ns": late_ns} if late_ns is not None else done)


def _done(
    outcome: RunOutcome, pacing: PacingStats, watch: ClientWatch, cpu_s: float, offset_ns: int
) -> dict[str, Any]:
    return {
        "t": "done",
        "cpu_s": cpu_s,  # this process's CPU seconds from the start to the end of its share
        "outcome": {
            "warmup": phase_dict(outcome.warmup, offset_ns),
            "measured": phase_dict(outcome.measured, offset_ns),
            "stop_reason": outcome.stop_reason.value,
        },
        "dispatch_lag_ns": pacing.dispatch_lag_ns.tolist(),  # an array("q"): not JSON
        "waited_for_cap": pacing.waited_for_cap,
        "watch": watch.raw(),
    }


async def serve(
    task: WorkerTask, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Runs the worker's share over its channel to the parent, whatever carries it."""
    outbox = Outbox(writer)
    try:
        await _work(task, outbox, reader)
    except LlmbenchError as exc:  # a known failure: the parent reports it as one clear error
        secrets = [task.api_key] if task.api_key else []
        outbox.now({"t": "failed", "error": redact(str(exc), secrets)})
    finally:
        outbox.flush()
        if not writer.is_closing():
            try:
                async with asyncio.timeout(10):
                    await writer.drain()
            except (ConnectionError, TimeoutError):
                pass  # the parent is gone: nothing left to tell
        writer.close()


def worker_main(conn: Connection, task: WorkerTask) -> None:
    """Entry point of a spawned worker process."""
    # Ctrl-C reaches the whole process group: the parent decides, and tells the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.collect()
    gc.freeze()  # as in the parent: the start-up objects stay out of the collector's scans
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(_serve_pipe(conn, task))


async def _serve_pipe(conn: Connection, task: WorkerTask) -> None:
    reader, writer = await open_channel(conn)
    await serve(task, reader, writer)
