"""The A2A (Agent2Agent) client: JSON-RPC 2.0 over HTTP. It reads the agent card
(`/.well-known/agent-card.json`), submits a task with `message/stream` (SSE of the Task, then
status-update and artifact-update events until a terminal or interrupted state) or
`message/send` (then `tasks/get` until it stops), and makes one `TaskRecord` per task, every
event stamped when it arrived (docs/agent-services.md).

Wire shapes of A2A 0.3 (`kind`-tagged results, lower-case states) and the field-named results
and `TASK_STATE_*` states of later versions are both read. Failures are data, never raised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from time import monotonic_ns
from types import TracebackType
from typing import Any

import aiohttp
from yarl import URL

from llmbench.clients.http import (
    RequestFault,
    api_root,
    clip,
    fault_from_client_error,
    json_dumps,
    json_loads,
    make_session,
    open_pooled,
    read_error_message,
    status_category,
)
from llmbench.clients.sse import SSEDecoder
from llmbench.errors import EndpointError
from llmbench.records import ErrorCategory, RequestSpec, SendContext
from llmbench.redaction import redact
from llmbench.tasks import TaskError, TaskEvent, TaskRecord, TaskStatus

CARD_PATH = "/.well-known/agent-card.json"
TERMINAL_STATES = frozenset({"completed", "failed", "canceled", "rejected"})
INTERRUPTED_STATES = frozenset({"input-required", "auth-required"})
_STATUS_OF_STATE = {
    "completed": TaskStatus.OK,
    "failed": TaskStatus.ERROR,
    "rejected": TaskStatus.ERROR,
    "canceled": TaskStatus.CANCELLED,
    "input-required": TaskStatus.INTERRUPTED,
    "auth-required": TaskStatus.INTERRUPTED,
}
# Later versions name results by field instead of a `kind` tag.
_FIELD_KINDS = {
    "task": "task",
    "message": "message",
    "statusUpdate": "status-update",
    "artifactUpdate": "artifact-update",
}
RPC_ERROR = "rpc_error"  # the agent answered a JSON-RPC error object (its code in the message)
DEFAULT_POLL_INTERVAL_S = 0.05  # tasks/get after a message/send that returned a running task


class RpcFault(RequestFault):
    """The agent answered a JSON-RPC error object: recorded as `rpc_error`."""


def normalized_state(state: Any) -> str | None:
    """`completed`, `TASK_STATE_INPUT_REQUIRED` → `input-required`, ...; None if absent."""
    if not isinstance(state, str) or not state:
        return None
    return state.lower().removeprefix("task_state_").replace("_", "-")


def result_kind(result: Any) -> tuple[str, dict[str, Any]]:
    """(kind, object) of a JSON-RPC result: task | message | status-update | artifact-update."""
    if not isinstance(result, dict):
        raise RequestFault(ErrorCategory.PROTOCOL, f"result is not an object: {clip(str(result))}")
    kind = result.get("kind")
    if isinstance(kind, str):
        return kind, result
    for name, field_kind in _FIELD_KINDS.items():
        inner = result.get(name)
        if isinstance(inner, dict):
            return field_kind, inner
    raise RequestFault(ErrorCategory.PROTOCOL, f"result of no known kind: {clip(str(result))}")


def rpc_result(obj: Any) -> Any:
    """The `result` of a JSON-RPC 2.0 response; its `error` as a fault; else a protocol fault."""
    if not isinstance(obj, dict) or obj.get("jsonrpc") != "2.0":
        raise RequestFault(ErrorCategory.PROTOCOL, f"not a JSON-RPC 2.0 response: {clip(str(obj))}")
    error = obj.get("error")
    if error is not None:
        code = error.get("code") if isinstance(error, dict) else None
        message = error.get("message") if isinstance(error, dict) else error
        raise RpcFault(ErrorCategory.PROTOCOL, f"JSON-RPC error {code}: {clip(str(message))}")
    if "result" not in obj:
        raise RequestFault(ErrorCategory.PROTOCOL, "JSON-RPC response without result or error")
    return obj["result"]


class TaskWatch:
    """What one task showed, as its events arrive; `record()` makes its TaskRecord."""

    def __init__(self, spec: RequestSpec, ctx: SendContext, sent_ns: int) -> None:
        self.spec, self.ctx = spec, ctx
        self.sent_ns = sent_ns  # replaced by the write stamp once the request is on its socket
        self.reused_connection = False
        self.accepted_ns: int | None = None
        self.provider_task_id: str | None = None
        self.state: str | None = None
        self.ended_ns: int | None = None
        self.events: list[TaskEvent] = []
        self.polls = 0
        self.replied = False  # the agent answered with a Message: done, no task

    @property
    def stopped(self) -> bool:
        """A terminal or interrupted state (or a direct Message) was seen."""
        return self.replied or self.state in TERMINAL_STATES | INTERRUPTED_STATES

    def on_result(self, result: Any, arrival_ns: int, via: str) -> None:
        kind, obj = result_kind(result)
        task_id = obj.get("id") if kind == "task" else obj.get("taskId")
        if isinstance(task_id, str) and self.provider_task_id is None:
            self.provider_task_id = task_id
            self.accepted_ns = arrival_ns
        status = obj.get("status")
        state = normalized_state(status.get("state")) if isinstance(status, dict) else None
        self.state = state or self.state
        event_id = obj.get("artifact", {}).get("artifactId") if kind == "artifact-update" else None
        self.events.append(
            TaskEvent(arrived_ns=arrival_ns, kind=kind, via=via, status=state, event_id=event_id)
        )
        if kind == "message":
            self.replied = True
            self.accepted_ns = self.accepted_ns or arrival_ns
        if self.stopped and self.ended_ns is None:
            self.ended_ns = arrival_ns

    def record(self, error: TaskError | None, status: TaskStatus | None = None) -> TaskRecord:
        if status is None:
            status = TaskStatus.ERROR if error is not None else self._status()
        if error is None and status is TaskStatus.ERROR:
            error = TaskError(category=f"task_{self.state}", message=f"the agent said {self.state}")
        return TaskRecord(
            task_id=self.ctx.request_id, target_id=self.ctx.target_id, name=self.spec.item_id,
            status=status, scheduled_ns=self.ctx.scheduled_ns, submitted_ns=self.sent_ns,
            # a failed, timed-out or cancelled task ended when that was seen (censored: kept)
            ended_ns=self.ended_ns if self.ended_ns is not None else monotonic_ns(),
            warmup=self.ctx.warmup, worker_id=self.ctx.worker_id, error=error,
            accepted_ns=self.accepted_ns, provider_task_id=self.provider_task_id,
            events=tuple(self.events), polls=self.polls, provider_state=self.state,
        )  # fmt: skip

    def _status(self) -> TaskStatus:
        if self.replied and self.state is None:
            return TaskStatus.OK
        return _STATUS_OF_STATE.get(self.state or "", TaskStatus.ERROR)


class A2AClient:
    """Submits tasks to one A2A agent; `async with A2AClient(...) as client` reads its card."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        stream: bool = True,
        request_timeout_s: float = 600.0,
        connect_timeout_s: float = 10.0,
        connection_limit: int = 0,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
        blocking: bool = True,
    ) -> None:
        self._root = api_root(base_url)
        self._secrets = [api_key] if api_key else []
        self._headers = {"Content-Type": "application/json", **(extra_headers or {})}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._stream = stream
        self._timeout_s = request_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._connection_limit = connection_limit
        self._poll_interval_s = poll_interval_s
        self._blocking = blocking  # message/send: answer when the task stops (else: poll)
        self._session: aiohttp.ClientSession | None = None
        self.card: dict[str, Any] = {}
        self._url = URL(self._root)

    async def __aenter__(self) -> A2AClient:
        self._session = make_session(
            connection_limit=self._connection_limit, connect_timeout_s=self._connect_timeout_s
        )
        try:
            self.card = await fetch_agent_card(self._session, self._root, self._headers,
                                               secrets=self._secrets)  # fmt: skip
        except BaseException:
            await self.close()
            raise
        self._headers.update(key_header(self.card, self._headers.pop("Authorization", None)))
        url = self.card.get("url")
        self._url = URL(url if isinstance(url, str) and url.startswith("http") else self._root)
        streaming = (self.card.get("capabilities") or {}).get("streaming")
        self._stream = self._stream and streaming is not False
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def open_connections(self, n: int, timeout_s: float = 10.0) -> int:
        if self._session is None:
            raise RuntimeError("A2AClient.open_connections called outside 'async with'")
        if self._connection_limit:
            n = min(n, self._connection_limit)
        return await open_pooled(
            self._session, self._url, n, connect_timeout_s=self._connect_timeout_s,
            timeout_s=timeout_s,
        )  # fmt: skip

    async def run_task(self, spec: RequestSpec, ctx: SendContext) -> TaskRecord:
        """Submits one task and follows it until it stops; its record, failed or not."""
        if self._session is None:
            raise RuntimeError("A2AClient.run_task called outside 'async with'")
        watch = TaskWatch(spec, ctx, monotonic_ns())
        deadline = asyncio.timeout(self._timeout_s)
        failure: RequestFault | None = None
        try:
            async with deadline:
                if self._stream:
                    await self._follow_stream(self._session, watch)
                else:
                    await self._send_and_poll(self._session, watch)
        except RequestFault as exc:
            failure = exc
        except aiohttp.ClientError as exc:
            failure = fault_from_client_error(exc, got_headers=watch.accepted_ns is not None)
        except TimeoutError:
            if deadline.expired():
                message = f"no terminal or interrupted state within {self._timeout_s} s"
                error = TaskError(category="timeout", message=message)
                return watch.record(error, TaskStatus.TIMEOUT)
            failure = RequestFault(ErrorCategory.CONNECT, "connect timed out")
        except asyncio.CancelledError:  # the run's end: the record is kept, as a request's is
            if not watch.stopped:
                error = TaskError(category="cancelled", message="cancelled while in flight")
                return watch.record(error, TaskStatus.CANCELLED)
        return watch.record(None if failure is None else self._error(failure))

    def _message(self, spec: RequestSpec, ctx: SendContext, method: str) -> bytes:
        message = {
            "kind": "message", "role": "user", "messageId": ctx.request_id,
            "parts": [{"kind": "text", "text": spec.prompt}],
            # what the simulator sizes its answer by; other agents ignore metadata they do not know
            "metadata": {"llmbench": {"max_tokens": spec.max_tokens}},
        }  # fmt: skip
        params: dict[str, Any] = {"message": message}
        if method == "message/send":
            params["configuration"] = {"blocking": self._blocking}
        return _rpc(ctx.request_id, method, params)

    async def _follow_stream(self, session: aiohttp.ClientSession, watch: TaskWatch) -> None:
        body = self._message(watch.spec, watch.ctx, "message/stream")
        headers = {**self._headers, "Accept": "text/event-stream",
                   "X-Request-Id": watch.ctx.request_id}  # fmt: skip
        async with session.post(self._url, data=body, headers=headers,
                                trace_request_ctx=watch) as resp:  # fmt: skip
            await _check_status(resp)
            if resp.content_type != "text/event-stream":  # an error (or a task) as plain JSON
                result = rpc_result(_json(await resp.read()))
                watch.on_result(result, monotonic_ns(), "response")
                await self._poll_until_stopped(session, watch)
                return
            decoder = SSEDecoder()
            while data := await resp.content.readany():
                arrival_ns = monotonic_ns()
                for event in decoder.feed(data):
                    watch.on_result(rpc_result(_json(event.data)), arrival_ns, "stream")
                    if watch.stopped:
                        return
        raise RequestFault(
            ErrorCategory.PROTOCOL,
            f"stream ended in state {watch.state!r}, before a terminal or interrupted state",
        )

    async def _send_and_poll(self, session: aiohttp.ClientSession, watch: TaskWatch) -> None:
        body = self._message(watch.spec, watch.ctx, "message/send")
        result = await self._call(session, body, watch)
        watch.on_result(result, monotonic_ns(), "response")
        await self._poll_until_stopped(session, watch)

    async def _poll_until_stopped(self, session: aiohttp.ClientSession, watch: TaskWatch) -> None:
        """tasks/get every poll interval until the task stops (an end known to one interval)."""
        while not watch.stopped:
            await asyncio.sleep(self._poll_interval_s)
            if watch.provider_task_id is None:
                raise RequestFault(ErrorCategory.PROTOCOL, "a running task without an id")
            params = {"id": watch.provider_task_id}
            result = await self._call(session, _rpc(watch.ctx.request_id, "tasks/get", params))
            watch.polls += 1
            watch.on_result(result, monotonic_ns(), "poll")

    async def _call(
        self, session: aiohttp.ClientSession, body: bytes, stamp: TaskWatch | None = None
    ) -> Any:
        async with session.post(self._url, data=body, headers=self._headers,
                                trace_request_ctx=stamp) as resp:  # fmt: skip
            await _check_status(resp)
            return rpc_result(_json(await resp.read()))

    def _error(self, fault: RequestFault) -> TaskError:
        category = RPC_ERROR if isinstance(fault, RpcFault) else fault.category.value
        message = redact(fault.message, self._secrets)
        return TaskError(category=category, message=message, http_status=fault.http_status)


def key_header(card: dict[str, Any], bearer: str | None) -> dict[str, str]:
    """Where the key goes: the header of the card's API-key scheme (`{"type": "apiKey", "in":
    "header", "name": ...}`), else `Authorization: Bearer` (`bearer` is that header's value)."""
    if bearer is None:
        return {}
    schemes = card.get("securitySchemes")
    for scheme in schemes.values() if isinstance(schemes, dict) else ():
        if not isinstance(scheme, dict):
            continue
        name = scheme.get("name")
        if scheme.get("type") == "apiKey" and scheme.get("in") == "header" and name:
            return {str(name): bearer.removeprefix("Bearer ")}
    return {"Authorization": bearer}


def _rpc(request_id: str, method: str, params: dict[str, Any]) -> bytes:
    return json_dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})


def _json(data: str | bytes) -> Any:
    try:
        return json_loads(data)
    except ValueError:
        text = data if isinstance(data, str) else data.decode("utf-8", "replace")
        raise RequestFault(ErrorCategory.PROTOCOL, f"malformed JSON: {clip(text)!r}") from None


async def _check_status(resp: aiohttp.ClientResponse) -> None:
    if resp.status >= 400:
        message = await read_error_message(resp)
        raise RequestFault(status_category(resp.status), f"HTTP {resp.status}: {message}",
                           resp.status)  # fmt: skip


async def read_agent_card(
    base_url: str, *, api_key: str | None, extra_headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The agent card of the agent at `base_url` (its own short-lived session)."""
    headers = {**(extra_headers or {})}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    async with make_session(connection_limit=1, connect_timeout_s=10.0) as session:
        secrets = [api_key] if api_key else []
        return await fetch_agent_card(session, api_root(base_url), headers, secrets=secrets)


async def fetch_agent_card(
    session: aiohttp.ClientSession,
    root: str,
    headers: Mapping[str, str],
    *,
    secrets: list[str],
    timeout_s: float = 10.0,
) -> dict[str, Any]:
    """The agent card at `root/.well-known/agent-card.json`; EndpointError when absent."""
    url = root + CARD_PATH
    try:
        async with asyncio.timeout(timeout_s), session.get(url, headers=headers) as resp:
            status, body = resp.status, await resp.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise EndpointError(
            redact(f"cannot read the agent card at {url}: {exc or 'timed out'}", secrets),
            hint="check the base URL: the agent's root, where /.well-known/agent-card.json is",
        ) from exc
    card = None
    if status == 200:
        try:
            card = json_loads(body)
        except ValueError:
            card = None
    if not isinstance(card, dict) or not isinstance(card.get("name"), str):
        text = clip(body.decode("utf-8", "replace"))
        raise EndpointError(
            redact(f"GET {url} gave HTTP {status}, not an agent card: {text!r}", secrets),
            hint="check that the base URL is an A2A agent (--target-kind a2a)",
        )
    return card
