"""The agent-service load (target kinds manus and task-api): submits tasks paced like requests
(a closed loop of `concurrency` streams, or an open loop at a rate), follows each by polling,
webhooks or both, and writes one TaskRecord per task. An `AgentDriver`: it owns its HTTP
session and the webhook receiver; the chat client it is handed is not used.

Polling: each task is polled every `poll_interval_ms` (± `poll_jitter`), a 429 waits its
Retry-After (never less than one interval), three failed polls in a row end the task in error,
a task id the service no longer knows (404) ends it in error (`vanished`). A task with no final
status by `task_timeout_s` is cancelled at the service (best effort) and recorded as a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp

from llmbench.clients.taskapi import Poll, TaskApiClient, TaskApiError
from llmbench.clients.taskapi_spec import MANUS, TaskApiSpec, dig, load_task_api_spec
from llmbench.config import RunSpec
from llmbench.config.task_api import TaskApiSettings
from llmbench.engine.closed_loop import PhaseOutcome, RunOutcome, StopReason
from llmbench.engine.open_loop import pace_until
from llmbench.engine.protocol import Conversant
from llmbench.engine.schedules import Offsets
from llmbench.errors import ConfigError, EndpointError
from llmbench.records import RequestRecord, RequestSpec
from llmbench.run.task_tracker import Identity, TaskTracker
from llmbench.tasks import TaskRecord, TaskStatus

if TYPE_CHECKING:
    from llmbench.clients.webhooks import WebhookReceiver

_MAX_POLL_FAILURES = 3
_CONFIRM_POLLS = 5  # polls after a webhook's end, for polling's own sighting of it
_NS_PER_S = 1_000_000_000
TaskSink = Callable[[TaskRecord], None]


@dataclass(frozen=True, slots=True)
class Pacing:
    """How tasks are submitted: `concurrency` at a time (closed), or each at its offset from
    the start (open: the load's arrival process, nanoseconds)."""

    tasks: int
    concurrency: int = 1
    offsets_ns: tuple[int, ...] | None = None
    warmup: int = 0


class TaskApiDriver:
    """Runs `pacing.tasks` tasks of `prompts` against one service."""

    def __init__(
        self,
        base_url: str,
        spec: TaskApiSpec,
        settings: TaskApiSettings,
        pacing: Pacing,
        prompts: Iterator[str],
        api_key: str | None,
        *,
        seed: int = 0,
    ) -> None:
        self.base_url = base_url
        self.spec = spec
        self.settings = settings
        self.pacing = pacing
        self._prompts = prompts
        self._key = api_key
        self._rng = random.Random(seed)
        self._live: dict[str, TaskTracker] = {}
        self._early: dict[str, list[tuple[dict[str, Any], int]]] = {}
        self._finished: set[str] = set()
        self.receiver: WebhookReceiver | None = None
        self.api: TaskApiClient | None = None

    @property
    def concurrency(self) -> int:
        return self.pacing.concurrency

    async def run(
        self,
        client: Conversant,
        *,
        target_id: str,
        sink: Callable[[RequestRecord], None],
        task_sink: TaskSink,
        stop: asyncio.Event | None,
    ) -> RunOutcome:
        limit = max(self.pacing.concurrency, 64) * (2 if self.settings.poll else 1)
        connector = aiohttp.TCPConnector(limit=limit)
        timeout = aiohttp.ClientTimeout(total=30)  # one call; a task has its own timeout
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            self.api = TaskApiClient(self.base_url, self.spec, self._key, session)
            await self._start_webhooks(self.api)
            try:
                return await self._load(target_id, task_sink, stop or asyncio.Event())
            finally:
                if self.receiver is not None:
                    await self.receiver.stop()

    async def _start_webhooks(self, api: TaskApiClient) -> None:
        s = self.settings
        if s.webhook_listen is None or s.webhook_public_url is None or self.spec.webhooks is None:
            return
        context = None
        if s.webhook_tls_cert is not None and s.webhook_tls_key is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(s.webhook_tls_cert, s.webhook_tls_key)
        # Here, not at the top: only webhook runs pay for `cryptography` (start-up time).
        from llmbench.clients.webhooks import KeyCache, WebhookReceiver

        self.receiver = WebhookReceiver(
            s.webhook_listen, s.webhook_public_url, KeyCache(api.public_key), self._delivered,
            event_id_field=self.spec.webhooks.event_id_field, ssl_context=context,
        )  # fmt: skip
        try:
            if self.spec.webhooks.public_key is not None:
                await self.receiver.keys.get()  # now, not inside the first delivery
            await self.receiver.start()
            await api.register_webhook(s.webhook_public_url)
        except (TaskApiError, ValueError, OSError) as exc:
            await self.receiver.stop()
            raise EndpointError(
                f"webhooks could not be set up: {exc}",
                hint="check --webhook-listen (a free HOST:PORT), --webhook-public-url and the "
                "service's webhook calls, or run without webhooks (polling)",
            ) from None

    def _delivered(self, payload: dict[str, Any], arrived_ns: int) -> None:
        hooks = self.spec.webhooks
        assert hooks is not None
        found = (dig(payload, path) for path in hooks.task_id_paths)
        provider_id = next((str(v) for v in found if v is not None), None)
        if provider_id is None:
            return
        if provider_id in self._finished:  # a late copy for a task already recorded
            return
        tracker = self._live.get(provider_id)
        if tracker is None:  # before the create call's answer was read
            self._early.setdefault(provider_id, []).append((payload, arrived_ns))
            return
        tracker.webhook(payload, arrived_ns)

    async def _load(self, target_id: str, sink: TaskSink, stop: asyncio.Event) -> RunOutcome:
        started_ns = time.monotonic_ns()
        counter = itertools.count()
        total = self.pacing.tasks + self.pacing.warmup

        async def one(index: int, scheduled_ns: int) -> None:
            warmup = index < self.pacing.warmup
            name = self.spec.name
            identity = Identity(f"task-{index:06d}", target_id, name, scheduled_ns, warmup)
            sink(await self._task(identity, next(self._prompts)))

        async def stream() -> None:
            while not stop.is_set() and (index := next(counter)) < total:
                await one(index, time.monotonic_ns())

        if self.pacing.offsets_ns is None:
            work = [asyncio.ensure_future(stream()) for _ in range(self.pacing.concurrency)]
        else:
            work = [asyncio.ensure_future(self._open(one, total, stop))]
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait([*work, stopper], return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            for task in work:
                task.cancel()
        await asyncio.gather(*work, return_exceptions=True)
        stopper.cancel()
        reason = StopReason.INTERRUPTED if stop.is_set() else StopReason.REQUESTS
        phase = PhaseOutcome(started_ns, time.monotonic_ns(), min(next(counter), total), reason)
        return RunOutcome(warmup=None, measured=phase, stop_reason=reason)

    async def _open(self, one: Callable[[int, int], Any], total: int, stop: asyncio.Event) -> None:
        offsets = self.pacing.offsets_ns
        assert offsets is not None
        origin_ns = time.monotonic_ns()
        running: set[asyncio.Task[None]] = set()
        try:
            for index, offset_ns in enumerate(offsets[:total]):
                due_ns = origin_ns + offset_ns
                await pace_until(due_ns, time.monotonic_ns)  # never early, as the open loop
                task = asyncio.ensure_future(one(index, due_ns))
                running.add(task)
                task.add_done_callback(running.discard)
            await asyncio.gather(*running)
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _task(self, identity: Identity, prompt: str) -> TaskRecord:
        api = self.api
        assert api is not None
        interval = self.settings.poll_interval_ms
        tracker = TaskTracker(self.spec, identity, time.monotonic_ns(), self._on_waiting)
        deadline_s = self.settings.task_timeout_s
        status, error = TaskStatus.CANCELLED, None
        try:
            async with asyncio.timeout(deadline_s):
                status, error = await self._follow(api, tracker, prompt)
        except TimeoutError:
            status = TaskStatus.TIMEOUT
        except asyncio.CancelledError:
            record = tracker.record(TaskStatus.CANCELLED, None, time.monotonic_ns(), interval)
            self._forget(tracker)
            await self._cancel_quietly(api, tracker)
            return record
        end_ns = time.monotonic_ns()
        if status is TaskStatus.TIMEOUT:
            await self._cancel_quietly(api, tracker)
        self._forget(tracker)
        return tracker.record(status, error, end_ns, interval)

    async def _follow(
        self, api: TaskApiClient, tracker: TaskTracker, prompt: str
    ) -> tuple[TaskStatus, TaskApiError | None]:
        try:
            tracker.provider_id = await api.create(prompt)
        except TaskApiError as exc:
            return TaskStatus.ERROR, exc
        tracker.accepted_ns = time.monotonic_ns()
        self._live[tracker.provider_id] = tracker
        for payload, arrived_ns in self._early.pop(tracker.provider_id, []):
            tracker.webhook(payload, arrived_ns)
        if self.settings.poll:
            error = await self._poll(api, tracker)
            if error is not None:
                return TaskStatus.ERROR, error
        else:
            await tracker.done.wait()
        with contextlib.suppress(TaskApiError):  # after the end: costs no measured time
            tracker.credits = await api.credits(tracker.provider_id)
        ok = tracker.final in self.spec.done
        return (TaskStatus.OK if ok else TaskStatus.ERROR), None

    async def _poll(self, api: TaskApiClient, tracker: TaskTracker) -> TaskApiError | None:
        """Polls on its own schedule until polling sees the end too (after a webhook saw it:
        at most `_CONFIRM_POLLS` more), so the two channels' sightings are both measured;
        the error that ended the task early, if any."""
        assert tracker.provider_id is not None
        looked_ns = tracker.submitted_ns  # events seen next happened after this
        failures = after_end = 0
        while tracker.ended_poll_ns is None and after_end <= _CONFIRM_POLLS:
            after_end += tracker.final is not None
            try:
                poll = await api.poll(tracker.provider_id)
            except TaskApiError as exc:
                tracker.polls += 1
                failures = 0 if exc.http_status == 429 else failures + 1
                wait_s = self._after_failure(tracker, exc, failures)
                if wait_s is None:  # an error ends the task, unless a webhook ended it first
                    return None if tracker.final is not None else exc
                await asyncio.sleep(wait_s)
                continue
            tracker.polls += 1
            failures = 0
            self._take(tracker, poll, looked_ns)
            looked_ns = poll.sent_ns
            if tracker.ended_poll_ns is None:
                await asyncio.sleep(self._interval_s())
        return None

    def _after_failure(
        self, tracker: TaskTracker, exc: TaskApiError, failures: int
    ) -> float | None:
        """How long to wait before the next poll, or None: the task ends in this error."""
        if exc.http_status == 404:
            exc.category, exc.message = "vanished", f"task id no longer known: {exc.message}"
            return None
        if exc.http_status == 429:
            tracker.polls_throttled += 1
            wait_s = max(exc.retry_after_s or 0.0, self._interval_s())
            tracker.throttled_ns += round(wait_s * _NS_PER_S)
            return wait_s
        return None if failures >= _MAX_POLL_FAILURES else self._interval_s()

    def _take(self, tracker: TaskTracker, poll: Poll, looked_ns: int) -> None:
        for event in poll.events:
            tracker.observe(event, poll.answered_ns, "poll", looked_ns)
        # a status endpoint's answer counts when it changes (the events' own are above)
        status = poll.status
        if self.spec.status is not None and status and status != tracker.polled_status:
            tracker.polled_status = status
            tracker.status(status, poll.status_ns, "poll", looked_ns)

    def _interval_s(self) -> float:
        jitter = self.settings.poll_jitter
        return self.settings.poll_interval_ms / 1000 * (1 + self._rng.uniform(-jitter, jitter))

    def _on_waiting(self, tracker: TaskTracker) -> None:
        delay = self.settings.answer_after_ms
        answers = self.spec.answer or self.spec.answer_message
        if delay is None or answers is None or self.api is None:
            return
        asyncio.get_running_loop().create_task(self._answer(self.api, tracker, delay / 1000))

    async def _answer(self, api: TaskApiClient, tracker: TaskTracker, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        if tracker.provider_id is None or tracker.final is not None:
            return
        with contextlib.suppress(TaskApiError):
            if tracker.waiting_for is None and self.spec.events is not None:
                # webhooks only: a `stopped/ask` delivery does not say what it waits for
                poll = await api.poll(tracker.provider_id)
                tracker.polls += 1
                found = [(e.waiting_id, e.waiting_type) for e in poll.events if e.waiting_id]
                tracker.waiting_for = found[-1] if found else None
            event_id, event_type = tracker.waiting_for or (None, None)
            await api.answer(tracker.provider_id, event_id, event_type)
            tracker.end_waiting(time.monotonic_ns())

    async def _cancel_quietly(self, api: TaskApiClient, tracker: TaskTracker) -> None:
        if tracker.provider_id is not None:
            with contextlib.suppress(TaskApiError):
                await api.cancel(tracker.provider_id)

    def bind(self, base_url: str, api_key: str | None) -> None:
        """The service's root URL and key, known once the target is resolved (execute_run)."""
        self.base_url, self._key = base_url, api_key

    def _forget(self, tracker: TaskTracker) -> None:
        if tracker.provider_id is not None:
            self._live.pop(tracker.provider_id, None)
            self._early.pop(tracker.provider_id, None)
            self._finished.add(tracker.provider_id)


TASK_KINDS = ("manus", "task-api")


def task_api_spec(spec: RunSpec) -> TaskApiSpec:
    """The service's description: Manus's, or the YAML file of a task-api target."""
    if spec.target.kind == "manus":
        return MANUS
    if spec.task_api.config is None:
        raise ConfigError(
            "a task-api target needs its description", where="--task-api-config",
            hint="write the YAML file (docs/agent-services.md, examples/task-api.yaml)",
        )  # fmt: skip
    return load_task_api_spec(spec.task_api.config)


def task_api_plan(spec: RunSpec, items: Iterator[RequestSpec], offsets: Offsets | None) -> Any:
    """The agent-service load of `spec`: one task per request the load would send."""
    load = spec.load
    if load.requests is None:
        raise ConfigError(
            "an agent-service run is bounded by a task count", where="load.requests",
            hint="set --requests N (tasks measured after --warmup)",
        )  # fmt: skip
    concurrency = getattr(load, "concurrency", 1) if offsets is None else 1
    pacing = Pacing(
        tasks=load.requests, concurrency=concurrency, warmup=load.warmup,
        offsets_ns=None if offsets is None else tuple(offsets),
    )  # fmt: skip
    prompts = (item.prompt for item in items)
    return TaskApiDriver(
        "", task_api_spec(spec), spec.task_api, pacing, prompts, None, seed=spec.workload.seed
    )


def bind_target(agent: object, base_url: str, api_key: str | None) -> None:
    """Gives an agent-service driver the resolved target (other agent drivers need nothing)."""
    if isinstance(agent, TaskApiDriver):
        agent.bind(base_url, api_key)
