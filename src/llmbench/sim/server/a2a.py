"""The simulator's A2A face: an agent card at `/.well-known/agent-card.json` and a JSON-RPC 2.0
endpoint at `/a2a` with `message/send` (blocking or not), `message/stream` and `tasks/get`.

A task is one model call on the twin (or the fixed schedule): the Task (submitted) at once,
`working` at the first token, an artifact-update every `artifact_tokens` tokens, `completed`
(final) at the last. The `X-Sim-A2A` header picks another end: failed | canceled |
input-required | auth-required (after the first artifact), rejected (at once), message (a
Message instead of a task), malformed (a broken event after the Task). Ground truth, each
event's write time, is at `/sim/a2a-log/{task_id}`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

A2A_PATH = "/a2a"
CARD_PATH = "/.well-known/agent-card.json"
A2A_HEADER = "X-Sim-A2A"
OUTCOMES = ("completed", "failed", "canceled", "input-required", "auth-required", "rejected",
            "message", "malformed")  # fmt: skip
_AFTER_FIRST_ARTIFACT = {"failed", "canceled", "input-required", "auth-required"}
DEFAULT_MAX_TOKENS = 16
# (deadline_ns, tokens) of one generation, each yielded once due: the simulator's model call.
TokenTimes = Callable[[int, tuple[str, ...], int], AsyncGenerator[tuple[int, int], None]]
Emit = Callable[[dict[str, Any]], Awaitable[None]]


class RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class A2ATask:
    """One task as served: its state for tasks/get and its ground-truth log."""

    task_id: str
    context_id: str
    request_id: str
    method: str
    received_ns: int
    user_message: dict[str, Any]
    outcome: str
    state: str = "submitted"
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)  # {kind, state, emit_ns}
    done_ns: int | None = None

    def snapshot(self) -> dict[str, Any]:
        return {
            "kind": "task", "id": self.task_id, "contextId": self.context_id,
            "status": {"state": self.state, "timestamp": _now_iso()},
            "artifacts": self.artifacts, "history": [self.user_message],
        }  # fmt: skip

    def status_update(self, state: str, final: bool) -> dict[str, Any]:
        self.state = state
        return {
            "kind": "status-update", "taskId": self.task_id, "contextId": self.context_id,
            "status": {"state": state, "timestamp": _now_iso()}, "final": final,
        }  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id, "request_id": self.request_id, "method": self.method,
            "received_ns": self.received_ns, "outcome": self.outcome, "final_state": self.state,
            "events": self.log, "done_ns": self.done_ns,
        }  # fmt: skip


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _words(message: dict[str, Any]) -> tuple[str, ...]:
    parts = message.get("parts")
    if not isinstance(parts, list) or not parts:
        raise RpcError(-32602, "params.message.parts must be a non-empty array")
    texts = [p.get("text") for p in parts if isinstance(p, dict)]
    return tuple(w for t in texts if isinstance(t, str) for w in t.split())


def _max_tokens(message: dict[str, Any]) -> int:
    meta = message.get("metadata")
    ours = meta.get("llmbench") if isinstance(meta, dict) else None
    value = ours.get("max_tokens") if isinstance(ours, dict) else None
    return value if isinstance(value, int) and value >= 1 else DEFAULT_MAX_TOKENS


class A2AFace:
    """Routes and tasks of the A2A face; `install(app)` adds them to the simulator's app."""

    def __init__(
        self, token_times: TokenTimes, api_key: str | None, *, artifact_tokens: int = 8,
        capacity: int = 100_000,
    ) -> None:  # fmt: skip
        self._token_times = token_times
        self._api_key = api_key
        self._artifact_tokens = artifact_tokens
        self._capacity = capacity
        self._tasks: OrderedDict[str, A2ATask] = OrderedDict()
        self._background: set[asyncio.Task[None]] = set()

    def install(self, app: web.Application) -> None:
        app.router.add_get(CARD_PATH, self.card)
        app.router.add_post(A2A_PATH, self.rpc)
        app.router.add_get("/sim/a2a-log", self.log_all)
        app.router.add_get("/sim/a2a-log/{task_id}", self.log_one)
        app.on_shutdown.append(self._cancel_background)

    async def _cancel_background(self, app: web.Application) -> None:
        for task in list(self._background):
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def card(self, request: web.Request) -> web.StreamResponse:
        card: dict[str, Any] = {
            "name": "llmbench-sim-agent", "description": "simulated A2A agent (llmbench)",
            "url": f"{request.scheme}://{request.host}{A2A_PATH}", "version": "1.0.0",
            "protocolVersion": "0.3.0", "preferredTransport": "JSONRPC",
            "capabilities": {"streaming": True, "pushNotifications": False},
            "defaultInputModes": ["text/plain"], "defaultOutputModes": ["text/plain"],
            "skills": [{"id": "generate", "name": "generate", "tags": ["text"],
                        "description": "answers with simulated tokens"}],
        }  # fmt: skip
        if self._api_key is not None:
            card["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            card["security"] = [{"bearer": []}]
        return web.json_response(card)

    async def log_all(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"tasks": [t.to_dict() for t in self._tasks.values()]})

    async def log_one(self, request: web.Request) -> web.StreamResponse:
        task = self._tasks.get(request.match_info["task_id"])
        if task is None:
            return web.json_response({"error": "no such task"}, status=404)
        return web.json_response(task.to_dict())

    def _authorized(self, request: web.Request) -> bool:
        if self._api_key is None:
            return True
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self._api_key.encode()
        )

    async def rpc(self, request: web.Request) -> web.StreamResponse:
        received_ns = time.monotonic_ns()
        if not self._authorized(request):
            return web.json_response({"error": "missing or invalid bearer token"}, status=401)
        rpc_id: Any = None
        try:
            try:
                body = json.loads(await request.read())
            except (ValueError, RecursionError):
                raise RpcError(-32700, "Parse error") from None
            rpc_id = body.get("id") if isinstance(body, dict) else None
            if not isinstance(body, dict) or body.get("jsonrpc") != "2.0":
                raise RpcError(-32600, "Invalid Request: not a JSON-RPC 2.0 request object")
            method, params = body.get("method"), body.get("params")
            if not isinstance(method, str):
                raise RpcError(-32600, "Invalid Request: no method")
            if not isinstance(params, dict):
                raise RpcError(-32602, "Invalid params: params must be an object")
            if method == "tasks/get":
                return _result(rpc_id, self._get(params))
            if method not in ("message/send", "message/stream"):
                raise RpcError(-32601, f"Method not found: {method}")
            task = self._open(request, method, params, received_ns)
        except RpcError as exc:
            return _error(rpc_id, exc)
        if method == "message/stream":
            return await self._stream(request, rpc_id, task)
        return await self._send(request, rpc_id, task, params)

    def _get(self, params: dict[str, Any]) -> dict[str, Any]:
        task = self._tasks.get(str(params.get("id")))
        if task is None:
            raise RpcError(-32001, "Task not found")
        return task.snapshot()

    def _open(
        self, request: web.Request, method: str, params: dict[str, Any], received_ns: int
    ) -> A2ATask:
        message = params.get("message")
        if not isinstance(message, dict):
            raise RpcError(-32602, "Invalid params: params.message must be an object")
        _words(message)  # validates the parts
        outcome = request.headers.get(A2A_HEADER, "completed")
        if outcome not in OUTCOMES:
            raise RpcError(-32602, f"{A2A_HEADER} must be one of {', '.join(OUTCOMES)}")
        task = A2ATask(
            task_id=f"task-{uuid.uuid4().hex[:16]}", context_id=f"ctx-{uuid.uuid4().hex[:12]}",
            request_id=request.headers.get("X-Request-Id", ""), method=method,
            received_ns=received_ns, user_message=message, outcome=outcome,
        )  # fmt: skip
        self._tasks[task.task_id] = task
        while len(self._tasks) > self._capacity:
            self._tasks.popitem(last=False)
        return task

    async def _events(self, task: A2ATask) -> AsyncGenerator[dict[str, Any], None]:
        """The task's results, each yielded when it is due (the twin times the tokens)."""
        if task.outcome != "message":
            yield task.snapshot()
        if task.outcome == "rejected":
            yield task.status_update("rejected", final=True)
            return
        words = _words(task.user_message)
        total = _max_tokens(task.user_message)
        async with aclosing(self._token_times(task.received_ns, words, total)) as times:
            async for event in self._generation(task, times, total):
                yield event
                if task.state in ("failed", "canceled", "input-required", "auth-required"):
                    return
        if task.outcome == "message":
            task.state = "replied"
            yield {"kind": "message", "role": "agent", "messageId": uuid.uuid4().hex,
                   "parts": [{"kind": "text", "text": _text(0, total)}]}  # fmt: skip
            return
        yield task.status_update("completed", final=True)

    async def _generation(
        self, task: A2ATask, times: AsyncIterator[tuple[int, int]], total: int
    ) -> AsyncIterator[dict[str, Any]]:
        """working at the first token, an artifact every `artifact_tokens` tokens."""
        sent = pending = 0
        async for _, count in times:
            if sent == 0 and task.outcome != "message":
                yield task.status_update("working", final=False)
            sent, pending = sent + count, pending + count
            if task.outcome == "message" or (pending < self._artifact_tokens and sent < total):
                continue
            yield self._artifact(task, sent - pending, pending, last=sent >= total)
            pending = 0
            if task.outcome in _AFTER_FIRST_ARTIFACT:
                yield task.status_update(task.outcome, final=True)
                return

    def _artifact(self, task: A2ATask, start: int, count: int, last: bool) -> dict[str, Any]:
        parts = [{"kind": "text", "text": _text(start, count)}]
        append = bool(task.artifacts)
        if append:
            task.artifacts[0]["parts"] += parts
        else:
            task.artifacts.append({"artifactId": "answer", "parts": list(parts)})
        return {
            "kind": "artifact-update", "taskId": task.task_id, "contextId": task.context_id,
            "artifact": {"artifactId": "answer", "parts": parts}, "append": append,
            "lastChunk": last,
        }  # fmt: skip

    async def _run(self, task: A2ATask, emit: Emit) -> None:
        async with aclosing(self._events(task)) as events:  # a gone client frees the twin
            async for event in events:
                await emit(event)
        task.done_ns = time.monotonic_ns()

    async def _stream(self, request: web.Request, rpc_id: Any, task: A2ATask) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Cache-Control": "no-cache"})
        response.content_type = "text/event-stream"
        await response.prepare(request)

        async def write(event: dict[str, Any]) -> None:
            data = json.dumps({"jsonrpc": "2.0", "id": rpc_id, "result": event})
            if task.outcome == "malformed" and event.get("kind") != "task":
                data = "{not json"
            _log(task, event)  # before the write: the bytes may reach the client during it
            await response.write(b"data: " + data.encode() + b"\n\n")
            if data == "{not json":
                raise ConnectionResetError("malformed: the stream ends here")

        with suppress(ConnectionError):
            await self._run(task, write)
        task.done_ns = task.done_ns or time.monotonic_ns()
        return response

    async def _send(
        self, request: web.Request, rpc_id: Any, task: A2ATask, params: dict[str, Any]
    ) -> web.StreamResponse:
        replies: list[dict[str, Any]] = []

        async def keep(event: dict[str, Any]) -> None:
            _log(task, event)
            if event.get("kind") == "message":
                replies.append(event)

        configuration = params.get("configuration")
        blocking = not isinstance(configuration, dict) or configuration.get("blocking") is not False
        if not blocking:  # answered now; the task runs on, seen by tasks/get
            job = asyncio.get_running_loop().create_task(self._run(task, keep))
            self._background.add(job)
            job.add_done_callback(self._background.discard)
            return _result(rpc_id, task.snapshot())
        await self._run(task, keep)
        return _result(rpc_id, replies[-1] if replies else task.snapshot())


def _log(task: A2ATask, event: dict[str, Any]) -> None:
    status = event.get("status")
    state = status.get("state") if isinstance(status, dict) else None
    task.log.append({"kind": event.get("kind"), "state": state, "emit_ns": time.monotonic_ns()})


def _text(start: int, count: int) -> str:
    return "".join(f" w{i}" for i in range(start, start + count))


def _result(rpc_id: Any, result: dict[str, Any]) -> web.Response:
    return web.json_response({"jsonrpc": "2.0", "id": rpc_id, "result": result})


def _error(rpc_id: Any, exc: RpcError) -> web.Response:
    error = {"code": exc.code, "message": exc.message}
    return web.json_response({"jsonrpc": "2.0", "id": rpc_id, "error": error})
