"""A task API client (an agent service: create a task, poll its events or status, answer it,
stop it), driven by a `TaskApiSpec`. Every failure is a `TaskApiError` with a category, the
HTTP status and the raw answer, redacted (the key never leaves this module in clear).
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from llmbench.clients.taskapi_spec import Call, TaskApiSpec, dig, fill
from llmbench.redaction import redact

RAW_BODY_LIMIT = 4000  # characters of a failed answer kept in the task record
_NS_PER_S = 1_000_000_000


class TaskApiError(Exception):
    """A failed call: `category` is an ErrorCategory value (connect, http_4xx, http_429,
    http_5xx, protocol) or `provider_error` (a 2xx answer saying ok: false)."""

    def __init__(
        self,
        category: str,
        message: str,
        *,
        http_status: int | None = None,
        raw_body: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.category = category
        self.message = message
        self.http_status = http_status
        self.raw_body = raw_body
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class Event:
    """One event as the service listed or delivered it."""

    event_id: str | None
    kind: str
    status: str | None
    provider_ns: int | None
    waiting_id: str | None = None  # a waiting event: what it waits for
    waiting_type: str | None = None


@dataclass(frozen=True, slots=True)
class Poll:
    """One look at a task: sent and answered (monotonic ns), its events and status."""

    sent_ns: int
    answered_ns: int
    events: tuple[Event, ...]
    status: str | None
    status_ns: int  # when the status was read (the status call's answer, else answered_ns)


def retry_after_s(value: str | None) -> float | None:
    """Retry-After as seconds: a number of seconds or an HTTP date; None when absent or bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _category(status: int) -> str:
    if status == 429:
        return "http_429"
    return "http_5xx" if status >= 500 else "http_4xx"


class TaskApiClient:
    """Calls of one service over one aiohttp session (the caller owns the session)."""

    def __init__(
        self, base_url: str, spec: TaskApiSpec, api_key: str | None, session: aiohttp.ClientSession
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.spec = spec
        self._key = api_key
        self._session = session

    def _redact(self, text: str) -> str:
        return redact(text, [self._key] if self._key else [])

    def _headers(self) -> dict[str, str]:
        if not self._key:
            return {}
        return {self.spec.auth.header: self.spec.auth.prefix + self._key}

    async def call(self, call: Call, values: dict[str, str]) -> dict[str, Any]:
        """The answer's JSON object; TaskApiError on any failure."""
        url = self.base_url + call.path
        query = fill(call.query, values)
        body = orjson.dumps(fill(call.body, values)) if call.body is not None else None
        headers = self._headers()
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with self._session.request(
                call.method, url, params=query, data=body, headers=headers
            ) as response:
                raw = await response.read()
                status = response.status
                retry = retry_after_s(response.headers.get("Retry-After"))
        except aiohttp.ClientPayloadError as exc:
            raise TaskApiError("protocol", self._redact(f"answer cut: {exc}")) from None
        except (aiohttp.ClientError, OSError) as exc:
            message = self._redact(f"{call.method} {call.path}: {type(exc).__name__}: {exc}")
            raise TaskApiError("connect", message) from None
        return self._parse(call, status, raw, retry)

    def _parse(self, call: Call, status: int, raw: bytes, retry: float | None) -> dict[str, Any]:
        text = self._redact(raw[:RAW_BODY_LIMIT].decode("utf-8", "replace"))
        where = f"{call.method} {call.path}"
        if status >= 400:
            raise TaskApiError(
                _category(status), f"{where}: HTTP {status}", http_status=status, raw_body=text,
                retry_after_s=retry,
            )  # fmt: skip
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            raise TaskApiError(
                "protocol", f"{where}: the answer is not a JSON object", http_status=status,
                raw_body=text,
            )  # fmt: skip
        ok_field = self.spec.envelope_ok_field
        if ok_field is not None and data.get(ok_field) is not True:
            code = dig(data, "error.code") or "no error code"
            raise TaskApiError(
                "provider_error", self._redact(f"{where}: {ok_field} is not true ({code})"),
                http_status=status, raw_body=text,
            )  # fmt: skip
        return data

    async def create(self, prompt: str) -> str:
        data = await self.call(self.spec.create, {"prompt": prompt})
        task_id = dig(data, self.spec.id_path)
        if not isinstance(task_id, str | int) or isinstance(task_id, bool) or task_id == "":
            raise TaskApiError(
                "protocol",
                f"the create answer has no task id at {self.spec.id_path!r}",
                raw_body=self._redact(orjson.dumps(data)[:RAW_BODY_LIMIT].decode()),
            )
        return str(task_id)

    async def poll(self, task_id: str) -> Poll:
        """One look: the status (from the status endpoint, else the last event that carried
        one) and the event list (when the spec has one)."""
        values = {"task_id": task_id}
        sent_ns = time.monotonic_ns()
        events: tuple[Event, ...] = ()
        status = None
        polled = None
        status_ns = None
        # The status first: the events listed after it hold all that led to it.
        if self.spec.status is not None:
            data = await self.call(self.spec.status.call, values)
            status_ns = time.monotonic_ns()
            found = dig(data, self.spec.status.field)
            polled = str(found) if found is not None else None
        if self.spec.events is not None:
            data = await self.call(self.spec.events.call, values)
            listed = dig(data, self.spec.events.list_path)
            if not isinstance(listed, list):
                raise TaskApiError(
                    "protocol", f"no event list at {self.spec.events.list_path!r}",
                    raw_body=self._redact(orjson.dumps(data)[:RAW_BODY_LIMIT].decode()),
                )  # fmt: skip
            items = reversed(listed) if self.spec.events.newest_first else listed
            events = tuple(self._event(item) for item in items if isinstance(item, dict))
            status = next((e.status for e in reversed(events) if e.status), None)
        status = polled if self.spec.status is not None else status
        answered_ns = time.monotonic_ns()
        return Poll(sent_ns, answered_ns, events, status, status_ns or answered_ns)

    def _event(self, item: dict[str, Any]) -> Event:
        spec = self.spec.events
        assert spec is not None
        event_id = dig(item, spec.id_field)
        status = dig(item, spec.status_path) if spec.status_path else None
        stamp = dig(item, spec.timestamp_field) if spec.timestamp_field else None
        provider_ns = None
        if isinstance(stamp, int | float) and not isinstance(stamp, bool):
            provider_ns = round(stamp * _NS_PER_S)
        waiting_id = dig(item, spec.waiting_id_path) if spec.waiting_id_path else None
        waiting_type = dig(item, spec.waiting_type_path) if spec.waiting_type_path else None
        return Event(
            None if event_id is None else str(event_id),
            str(dig(item, spec.type_field) or "event"),
            None if status is None else str(status),
            provider_ns,
            None if waiting_id is None else str(waiting_id),
            None if waiting_type is None else str(waiting_type),
        )

    async def answer(self, task_id: str, event_id: str | None, event_type: str | None) -> None:
        """Answers a waiting task: a question (`ask_types`) by message, anything else by
        confirming the event it waits for."""
        spec = self.spec
        call = spec.answer
        if event_type in spec.ask_types and spec.answer_message is not None:
            call = spec.answer_message
        if call is not None:
            await self.call(call, {"task_id": task_id, "event_id": event_id or ""})

    async def credits(self, task_id: str) -> float | None:
        """The credits an ended task used, when the service says (`detail`, `credits_field`)."""
        spec = self.spec
        if spec.detail is None or spec.credits_field is None:
            return None
        found = dig(await self.call(spec.detail, {"task_id": task_id}), spec.credits_field)
        if isinstance(found, int | float) and not isinstance(found, bool):
            return float(found)
        return None

    async def cancel(self, task_id: str) -> None:
        if self.spec.cancel is not None:
            await self.call(self.spec.cancel, {"task_id": task_id})

    async def register_webhook(self, url: str) -> None:
        if self.spec.webhooks is not None:
            await self.call(self.spec.webhooks.register_call, {"url": url})

    async def public_key(self) -> str:
        hooks = self.spec.webhooks
        if hooks is None or hooks.public_key is None:
            raise TaskApiError("protocol", "this service's spec names no public-key call")
        data = await self.call(hooks.public_key, {})
        pem = dig(data, hooks.public_key_field)
        if not isinstance(pem, str) or "PUBLIC KEY" not in pem:
            raise TaskApiError("protocol", f"no PEM public key at {hooks.public_key_field!r}")
        return pem
