"""The simulator's agent-service face, shaped like Manus API v2: `/v2/task.create`,
`task.listMessages`, `task.detail`, `task.sendMessage`, `task.confirmAction`, `task.stop`,
`webhook.create`, `webhook.publicKey`; every answer wrapped `{ok, request_id, ...}`; the key
(when the server has one) in `x-manus-api-key`.

A task is a plan run on the server: a status `running`, a `plan_update`, then model calls on
the twin (or the fixed timing) separated by tool delays, an `assistant_message` after each,
and a final status `stopped` (or `error`, or `waiting` until answered). Signed webhooks go to
every URL registered with `webhook.create`: `task_created`, `task_progress` (plan updates),
`task_stopped` (stop_reason finish, ask or error). Faults and the plan's shape are options
(sim/server/task_state.py). The ground truth is at `/sim/task-log/{task_id}`.
"""

from __future__ import annotations

import asyncio
import hmac
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

import orjson
from aiohttp import web

from llmbench.sim.server.task_state import (
    TASK_HEADER,
    SimTask,
    TaskOptionError,
    TaskOptions,
    draw_fates,
)
from llmbench.sim.server.webhooks import Deliverer, Delivery, Signer

AUTH_HEADER = "x-manus-api-key"
ASK_TYPE = "messageAskUser"  # a question: answered by task.sendMessage
CONFIRM_TYPE = "gmailSendAction"  # an action to confirm: task.confirmAction with its event_id
# (start_ns, prompt words, max tokens) → when its last token is due
ModelCall = Callable[[int, tuple[str, ...], int], Awaitable[int]]
_MAX_LIMIT = 200
_NS_PER_MS = 1_000_000


class _Refusal(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _envelope(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> web.Response:
    out = {"ok": status < 400, "request_id": f"req_{uuid.uuid4().hex[:16]}", **body}
    return web.Response(
        status=status, body=orjson.dumps(out), content_type="application/json", headers=headers
    )


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return _envelope(status, {"error": {"code": code, "message": message}}, headers)


class TaskFace:
    """Tasks, webhooks and their handlers; `model_call` times a model call on the server."""

    def __init__(
        self, options: str | None, seed: int, api_key: str | None, model_call: ModelCall
    ) -> None:
        self.options = TaskOptions().merged(options)
        self.seed = seed
        self._api_key = api_key
        self._model_call = model_call
        self.tasks: dict[str, SimTask] = {}
        self.webhook_urls: list[str] = []
        self._seq = 0
        self.deliverer = Deliverer(Signer())

    # ---- plumbing ----

    def _authorized(self, request: web.Request) -> bool:
        if self._api_key is None:
            return True
        presented = request.headers.get(AUTH_HEADER, "").encode("utf-8", "surrogateescape")
        return hmac.compare_digest(presented, self._api_key.encode("utf-8", "surrogateescape"))

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not request.path.startswith("/v2/"):
            return await handler(request)
        if not self._authorized(request):
            return _error(401, "unauthenticated", f"missing or invalid {AUTH_HEADER} header")
        try:
            return await handler(request)
        except _Refusal as exc:
            return _error(exc.status, exc.code, exc.message)

    async def _json(self, request: web.Request) -> dict[str, Any]:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            raise _Refusal(400, "invalid_argument", "the body is not JSON") from None
        if not isinstance(body, dict):
            raise _Refusal(400, "invalid_argument", "the body must be a JSON object")
        return body

    def _task(self, task_id: object) -> SimTask:
        task = self.tasks.get(task_id) if isinstance(task_id, str) else None
        if task is None or task.vanished:
            raise _Refusal(404, "not_found", f"no task {task_id!r}")
        return task

    # ---- tasks ----

    async def create(self, request: web.Request) -> web.StreamResponse:
        received_ns = time.monotonic_ns()
        body = await self._json(request)
        prompt = _prompt_text(body)
        try:
            options = self.options.merged(request.headers.get(TASK_HEADER))
        except TaskOptionError as exc:
            raise _Refusal(400, "invalid_argument", str(exc)) from None
        self._seq += 1
        rng = random.Random(self.seed * 1_000_003 + self._seq)
        task_id = f"task_{uuid.uuid4().hex[:20]}"
        task = SimTask(task_id, prompt, options, draw_fates(options, rng), rng, received_ns)
        self.tasks[task_id] = task
        if options.accept_ms:
            await asyncio.sleep(options.accept_ms / 1000)
        response = _envelope(200, task.detail())
        task.accepted_ns = time.monotonic_ns()  # as the answer goes out (a client can't be earlier)
        await response.prepare(request)
        await response.write_eof()
        self._webhook(task, "task_created", {"task_detail": task.detail()})
        task.runner = asyncio.get_running_loop().create_task(self._run(task))
        return response

    async def list_messages(self, request: web.Request) -> web.StreamResponse:
        task = self._task(request.query.get("task_id"))
        task.polls += 1
        if task.rng.random() < task.options.poll_429:
            task.throttled += 1
            retry = str(task.options.retry_after)
            return _error(429, "rate_limited", "too many requests", {"Retry-After": retry})
        if task.rng.random() < task.options.poll_503:
            return _error(503, "unavailable", "the service is overloaded (simulated)")
        if task.rng.random() < task.options.poll_garbage:
            return web.Response(status=200, text="<html>gateway</html>", content_type="text/html")
        if task.rng.random() < task.options.poll_cut:
            return await _cut(request)
        order = request.query.get("order", "desc")
        if order not in ("asc", "desc"):
            raise _Refusal(400, "invalid_argument", "order must be asc or desc")
        try:
            limit = int(request.query.get("limit", "50"))
        except ValueError:
            raise _Refusal(400, "invalid_argument", "limit must be an integer") from None
        if not 1 <= limit <= _MAX_LIMIT:
            raise _Refusal(400, "invalid_argument", f"limit must be in [1, {_MAX_LIMIT}]")
        messages = task.messages if order == "asc" else task.messages[::-1]
        return _envelope(200, {"messages": messages[:limit], "has_more": len(messages) > limit})

    async def detail(self, request: web.Request) -> web.StreamResponse:
        task = self._task(request.query.get("task_id"))
        return _envelope(200, {"task": task.summary()})

    async def send_message(self, request: web.Request) -> web.StreamResponse:
        """Answers a task waiting on `messageAskUser` (a question for the user)."""
        return await self._answer(request, ask=True)

    async def confirm_action(self, request: web.Request) -> web.StreamResponse:
        """Confirms the pending action named by `event_id` (any other waiting type)."""
        return await self._answer(request, ask=False)

    async def _answer(self, request: web.Request, *, ask: bool) -> web.StreamResponse:
        body = await self._json(request)
        task = self._task(body.get("task_id"))
        if task.status != "waiting" or task.waiting_for is None:
            raise _Refusal(409, "failed_precondition", f"task is {task.status}, not waiting")
        event_id, event_type = task.waiting_for
        if ask != (event_type == ASK_TYPE):
            right = "task.sendMessage" if event_type == ASK_TYPE else "task.confirmAction"
            raise _Refusal(400, "invalid_argument", f"waiting for {event_type}: use {right}")
        if not ask and body.get("event_id") != event_id:
            raise _Refusal(400, "invalid_argument", f"event_id must be {event_id!r}")
        task.waiting_for = None
        task.resume.set()
        return _envelope(200, {"task_id": task.task_id})

    async def stop(self, request: web.Request) -> web.StreamResponse:
        task = self._task((await self._json(request)).get("task_id"))
        if task.runner is not None and task.status not in ("stopped", "error"):
            task.runner.cancel()
            task.emit("status_update", {"agent_status": "stopped"})
        return _envelope(200, {"task_id": task.task_id})

    async def _run(self, task: SimTask) -> None:
        options, fates = task.options, task.fates
        task.emit("status_update", {"agent_status": "running"})
        steps = [{"title": f"step {i + 1}", "status": "pending"} for i in range(options.steps)]
        task.emit("plan_update", {"steps": steps})
        self._webhook(task, "task_progress", {"progress_detail": {
            **task.detail(), "progress_type": "plan_update", "message": "plan ready"}})  # fmt: skip
        words = tuple(task.prompt.split()) or ("task",)
        for index in range(options.steps):
            start_ns = time.monotonic_ns()
            end_ns = await self._model_call(start_ns, words, options.tokens)
            task.model_calls.append((start_ns, end_ns))
            task.emit("assistant_message", {"content": f"step {index + 1} done"})
            if index == 0 and not await self._after_first(task):
                return
            if index < options.steps - 1 and options.tool_ms:
                await asyncio.sleep(options.tool_ms / 1000)
        if fates.never:
            await asyncio.Event().wait()  # until task.stop cancels it
        self._stop(task, "stopped", "finish")

    async def _after_first(self, task: SimTask) -> bool:
        """Faults placed after the first step; False when the task is over."""
        fates = task.fates
        if fates.vanish:
            task.vanished = True
            return False
        if fates.error:
            self._stop(task, "error", "error")
            return False
        if fates.wait or fates.ask:
            event_type = ASK_TYPE if fates.ask else CONFIRM_TYPE
            task.waiting_for = (f"evt_{task.task_id}_wait", event_type)
            detail = {
                "waiting_for_event_id": task.waiting_for[0],
                "waiting_for_event_type": event_type,
                "waiting_description": "the simulator waits for an answer",
                "confirm_input_schema": {
                    "type": "object", "properties": {"accept": {"type": "boolean"}}},
            }  # fmt: skip
            task.emit("status_update", {"agent_status": "waiting", "status_detail": detail})
            self._webhook(task, "task_stopped", {"task_detail": {
                **task.detail(), "message": "confirm to go on", "stop_reason": "ask"}})  # fmt: skip
            await task.resume.wait()
            task.emit("status_update", {"agent_status": "running"})
        return True

    def _stop(self, task: SimTask, status: str, reason: str) -> None:
        task.emit("status_update", {"agent_status": status})
        self._webhook(task, "task_stopped", {"task_detail": {
            **task.detail(), "message": f"task {status}", "stop_reason": reason}})  # fmt: skip

    def _webhook(self, task: SimTask, event_type: str, body: dict[str, Any]) -> None:
        for url in self.webhook_urls:
            event_id = f"{event_type}_{task.task_id}_{len(task.deliveries)}"
            delivery = Delivery(event_id, event_type, url)
            delivery.lost = task.rng.random() < task.options.webhook_loss
            delivery.copies = 2 if task.rng.random() < task.options.webhook_dup else 1
            task.deliveries.append(delivery)
            payload = {"event_id": event_id, "event_type": event_type, **body}
            self.deliverer.send(delivery, payload)

    # ---- webhooks ----

    async def webhook_create(self, request: web.Request) -> web.StreamResponse:
        body = await self._json(request)
        hook = body.get("webhook")
        url = hook.get("url") if isinstance(hook, dict) else None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise _Refusal(400, "invalid_argument", "webhook.url must be an http(s) URL")
        self.webhook_urls.append(url)
        return _envelope(200, {"webhook_id": f"wh_{len(self.webhook_urls)}"})

    async def public_key(self, request: web.Request) -> web.StreamResponse:
        pem = self.deliverer.signer.public_pem
        return _envelope(200, {"public_key": pem, "algorithm": "RSA-SHA256"})

    # ---- ground truth ----

    async def task_log(self, request: web.Request) -> web.StreamResponse:
        task = self.tasks.get(request.match_info["task_id"])
        if task is None:
            return _error(404, "not_found", "no such task")
        return web.json_response(task.log())

    async def task_logs(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"tasks": [t.log() for t in self.tasks.values()]})

    async def lifetime(self, app: web.Application) -> Any:
        self.deliverer.open()
        yield
        for task in self.tasks.values():
            if task.runner is not None:
                task.runner.cancel()
                with suppress(asyncio.CancelledError):
                    await task.runner
        await self.deliverer.close()

    def install(self, app: web.Application) -> None:
        add = app.router
        add.add_post("/v2/task.create", self.create)
        add.add_get("/v2/task.listMessages", self.list_messages)
        add.add_get("/v2/task.detail", self.detail)
        add.add_post("/v2/task.sendMessage", self.send_message)
        add.add_post("/v2/task.confirmAction", self.confirm_action)
        add.add_post("/v2/task.stop", self.stop)
        add.add_post("/v2/webhook.create", self.webhook_create)
        add.add_get("/v2/webhook.publicKey", self.public_key)
        add.add_get("/sim/task-log", self.task_logs)
        add.add_get("/sim/task-log/{task_id}", self.task_log)
        app.cleanup_ctx.append(self.lifetime)
        app.middlewares.append(self.middleware)


async def _cut(request: web.Request) -> web.StreamResponse:
    """Half of a promised body, then the connection closes (a cut answer)."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = 64
    await response.prepare(request)
    await response.write(b'{"ok": true, "messages": [')
    if request.transport is not None:
        request.transport.close()
    return response


def _prompt_text(body: dict[str, Any]) -> str:
    message = body.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return content
    if not isinstance(content, list) or not content:
        raise _Refusal(400, "invalid_argument", "message.content must be a non-empty list")
    texts = [part.get("text") for part in content if isinstance(part, dict)]
    if not all(isinstance(text, str) for text in texts) or not texts:
        raise _Refusal(400, "invalid_argument", "each message.content part needs a text")
    return " ".join(t for t in texts if isinstance(t, str))
