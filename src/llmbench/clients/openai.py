"""The OpenAI-compatible client: `/v1/chat/completions` and `/v1/completions`, streamed (SSE)
or not, timing every network read; plus `list_models` (`/v1/models`) to probe a target.

`send` never raises for a failed request: the failure becomes the record's `error`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Callable, Mapping
from time import monotonic_ns
from types import TracebackType
from typing import Any, Literal

import aiohttp
from yarl import URL

from llmbench.clients.http import (
    RequestFault,
    api_root,
    check_one_authorization,
    clip,
    error_text,
    fault_from_client_error,
    json_dumps,
    json_loads,
    make_session,
    open_pooled,
    read_error_message,
    retry_after_s,
    status_category,
)
from llmbench.clients.observation import Observation
from llmbench.clients.sse import SSEDecoder
from llmbench.clients.tokens import Tokenizer
from llmbench.errors import EndpointError
from llmbench.records import (
    ErrorCategory,
    Reply,
    RequestError,
    RequestRecord,
    RequestSpec,
    SendContext,
)
from llmbench.redaction import redact

_DRAIN_AFTER_DONE_S = 0.25  # reading to EOF after [DONE] lets the connection be reused
_DEFAULT_RETRY_AFTER_S = 1.0  # a 429 without a (readable) Retry-After header
_PATHS = {"chat": "/v1/chat/completions", "completions": "/v1/completions"}


class OpenAIClient:
    """Sends `RequestSpec`s to one OpenAI-compatible endpoint over one aiohttp session.

    Use as `async with OpenAIClient(...) as client:`; implements the engine's `Client` protocol.
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        endpoint: Literal["chat", "completions"] = "chat",
        api_key: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        stream: bool = True,
        request_timeout_s: float = 600.0,
        connect_timeout_s: float = 10.0,
        connection_limit: int = 0,
        tokenizer: Tokenizer | None = None,
        retry_429_attempts: int = 1,
        retry_429_max_wait_s: float = 30.0,
        force_fields: Callable[[int], dict[str, Any]] | None = None,
    ) -> None:
        check_one_authorization(base_url, api_key)
        self._url = URL(api_root(base_url) + _PATHS[endpoint])
        self._models_url = URL(api_root(base_url) + "/v1/models")
        self._model = model
        self._chat = endpoint == "chat"
        self._secrets = [api_key] if api_key else []
        self._stream = stream
        self._request_timeout_s = request_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._connection_limit = connection_limit
        self._tokenizer = tokenizer
        # 1 attempt: no retries, the default, so a benchmark never hides a failure.
        self._retry_429_attempts = retry_429_attempts
        self._retry_429_max_wait_s = retry_429_max_wait_s
        self._headers = _headers(api_key, extra_headers)
        self._headers["Accept"] = "text/event-stream" if stream else "application/json"
        # Everything but the prompt and max_tokens is fixed: extra_body comes last and wins.
        fixed: dict[str, Any] = {"stream": stream}
        if stream:
            fixed["stream_options"] = {"include_usage": True}
        self._fixed_body = {**fixed, **(extra_body or {})}
        # --force-length: the engine's fields for each request's max_tokens (extra_body wins)
        self._force_fields = force_fields
        self._session: aiohttp.ClientSession | None = None
        self._fresh: aiohttp.ClientSession | None = None  # made at the first reconnect

    async def __aenter__(self) -> OpenAIClient:
        self._session = make_session(
            connection_limit=self._connection_limit, connect_timeout_s=self._connect_timeout_s
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
        if self._fresh is not None:
            fresh, self._fresh = self._fresh, None
            await fresh.close()

    async def open_connections(self, n: int, timeout_s: float = 10.0) -> int:
        """Opens up to `n` kept-alive connections before a load, so the first measured
        requests do not wait for TCP (and TLS) set-up; returns how many opened.

        A plain connect that sends nothing: the pool does not depend on any endpoint answering,
        and no answer (a 500 after which the server closes) can leave a dead connection in it.
        """
        if self._session is None:
            raise RuntimeError("OpenAIClient.open_connections called outside 'async with'")
        if self._connection_limit:
            n = min(n, self._connection_limit)
        return await open_pooled(
            self._session, self._url, n, connect_timeout_s=self._connect_timeout_s,
            timeout_s=timeout_s,
        )  # fmt: skip

    def probe_request(self) -> tuple[str, dict[str, str], dict[str, Any]]:
        """URL, headers and body of a 1-token request of this client's shape (every field it
        sends), to learn before a run whether the server takes them."""
        spec = RequestSpec(item_id="probe", prompt="Say hi.", max_tokens=1)
        return str(self._url), dict(self._headers), json_loads(self._body(spec))

    def _body(self, spec: RequestSpec) -> bytes:
        body: dict[str, Any] = {"model": self._model}
        if self._chat:
            body["messages"] = spec.messages or ({"role": "user", "content": spec.prompt},)
        else:
            body["prompt"] = spec.prompt
        body["max_tokens"] = spec.max_tokens
        if spec.session_id is not None:  # OpenAI's end-user id: some gateways route by it
            body["user"] = spec.session_id
        if spec.temperature is not None:
            body["temperature"] = spec.temperature
        if self._force_fields is not None:
            body.update(self._force_fields(spec.max_tokens))
        body.update(self._fixed_body)
        return json_dumps(body)

    async def send(self, spec: RequestSpec, ctx: SendContext) -> RequestRecord:
        """Sends one request; returns its record, failed or not (never raises for a failure)."""
        record, _ = await self._send(spec, ctx, keep_text=False)
        return record

    async def converse(self, spec: RequestSpec, ctx: SendContext) -> Reply:
        """As `send`, with the reply's text (per token-bearing chunk; what was received of a
        failed request)."""
        record, obs = await self._send(spec, ctx, keep_text=True)
        return Reply(record, tuple(obs.texts or ()))

    async def _send(
        self, spec: RequestSpec, ctx: SendContext, *, keep_text: bool
    ) -> tuple[RequestRecord, Observation]:
        """The record of one request and the observation of its last attempt.

        With retries on (`retry_429_attempts` > 1) an HTTP 429 is sent again after its
        Retry-After; one record holds the last attempt's timings and the retry counts. A first
        attempt that died on a pooled connection the server had closed is sent once more on a
        fresh connection (`reconnected`), retries on or not: not a byte of an answer came back.
        """
        if self._session is None:
            raise RuntimeError("OpenAIClient.send called outside 'async with'")  # a caller bug
        body = self._body(spec)
        headers = {**self._headers, "X-Request-Id": ctx.request_id}
        if spec.session_id is not None:
            headers["X-Session-Id"] = spec.session_id
        attempts, waited_ns, first_sent_ns, reconnected = 1, 0, None, False
        while True:
            obs, fault, stale_sent_ns = await self._attempt_once_more_if_stale(
                self._session, body, headers, reconnected, keep_text
            )
            if stale_sent_ns is not None:
                reconnected = True
                first_sent_ns = stale_sent_ns if first_sent_ns is None else first_sent_ns
            wait_s = self._retry_wait_s(fault, attempts)
            if wait_s is None:
                break
            first_sent_ns = obs.sent_ns if first_sent_ns is None else first_sent_ns
            waited_from_ns = monotonic_ns()
            try:
                await asyncio.sleep(wait_s)
            except asyncio.CancelledError:  # swallowed as in _attempt: the engine wants a record
                fault = RequestFault(ErrorCategory.CANCELLED, "cancelled while waiting to retry")
                break
            finally:
                waited_ns += monotonic_ns() - waited_from_ns
            attempts += 1
        record = obs.record(spec, ctx, self._error(fault), payload_bytes=len(body))
        if attempts == 1 and not reconnected:
            return record, obs
        retried = dataclasses.replace(
            record,
            attempts=attempts,
            retry_wait_ns=waited_ns,
            first_sent_ns=first_sent_ns,
            reconnected=reconnected,
        )
        return retried, obs

    async def _attempt_once_more_if_stale(
        self,
        session: aiohttp.ClientSession,
        body: bytes,
        headers: dict[str, str],
        reconnected: bool,
        keep_text: bool,
    ) -> tuple[Observation, RequestFault | None, int | None]:
        """One attempt; if it died on a reused connection that the server had closed before
        answering (and no request of this one did so before), once more on a fresh
        connection. The third value is the stale attempt's send time, None if none."""
        obs, fault = await self._attempt(session, body, headers, keep_text)
        if reconnected or fault is None or not fault.closed_before_answer:
            return obs, fault, None
        if not obs.reused_connection:
            return obs, fault, None  # a new connection refused us: a real failure
        if self._fresh is None:
            self._fresh = make_session(
                connection_limit=0, connect_timeout_s=self._connect_timeout_s, force_close=True
            )
        stale_sent_ns = obs.sent_ns
        obs, fault = await self._attempt(self._fresh, body, headers, keep_text)
        return obs, fault, stale_sent_ns

    def _retry_wait_s(self, fault: RequestFault | None, attempts: int) -> float | None:
        """Seconds to wait before another attempt, or None: no retry (and the reason noted)."""
        if fault is None or fault.category is not ErrorCategory.HTTP_429:
            return None
        if attempts >= self._retry_429_attempts:
            if self._retry_429_attempts > 1:
                fault.message += f" (gave up after {attempts} attempts)"
            return None
        wait_s = _DEFAULT_RETRY_AFTER_S if fault.retry_after_s is None else fault.retry_after_s
        if wait_s > self._retry_429_max_wait_s:
            fault.message += (
                f" (Retry-After {wait_s:g} s is over the {self._retry_429_max_wait_s:g} s limit:"
                " not retried)"
            )
            return None
        return wait_s

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        body: bytes,
        headers: dict[str, str],
        keep_text: bool = False,
    ) -> tuple[Observation, RequestFault | None]:
        """One HTTP exchange: what it showed and how it failed (None: it did not)."""
        obs = self._observation(keep_text)
        fault: RequestFault | None = None
        deadline = asyncio.timeout(self._request_timeout_s)
        try:
            async with deadline:
                await self._exchange(session, body, headers, obs)
        except RequestFault as exc:
            fault = exc
        except aiohttp.ClientError as exc:
            fault = fault_from_client_error(exc, got_headers=obs.headers_ns is not None)
        except TimeoutError:
            fault = self._timeout_fault(obs, expired=deadline.expired())
        except asyncio.CancelledError:
            # Swallowed on purpose: the engine cancels in-flight requests at shutdown and needs
            # their partial records, so the Client protocol returns one instead of re-raising.
            # Cancelled after [DONE] (while draining), the request is complete.
            if not obs.done:
                fault = RequestFault(ErrorCategory.CANCELLED, "cancelled while in flight")
        return obs, fault

    def _observation(self, keep_text: bool) -> Observation:
        """What one attempt saw, in this protocol's format (a subclass's own events)."""
        return Observation(self._tokenizer, monotonic_ns(), keep_text)

    async def _exchange(
        self, session: aiohttp.ClientSession, body: bytes, headers: dict[str, str], obs: Observation
    ) -> None:
        obs.sent_ns = monotonic_ns()  # replaced by the write time once the body is on the socket
        async with session.post(
            self._url, data=body, headers=headers, trace_request_ctx=obs
        ) as resp:
            obs.headers_ns = monotonic_ns()
            obs.http_status = resp.status
            if resp.status >= 400:
                message = await read_error_message(resp)
                wait_s = retry_after_s(resp.headers.get("Retry-After"), time.time())
                raise RequestFault(
                    status_category(resp.status),
                    f"HTTP {resp.status}: {message}",
                    resp.status,
                    retry_after_s=wait_s if resp.status == 429 else None,
                )
            if not 200 <= resp.status < 300:
                raise RequestFault(ErrorCategory.PROTOCOL, f"unexpected HTTP {resp.status}")
            if not self._stream:
                raw = await resp.read()
                obs.on_body(raw, monotonic_ns())
                return
            if resp.content_type != "text/event-stream":
                raise RequestFault(
                    ErrorCategory.PROTOCOL,
                    f"expected text/event-stream, got {resp.content_type!r} (HTTP {resp.status})",
                )
            await _read_events(resp.content, obs)

    def _timeout_fault(self, obs: Observation, *, expired: bool) -> RequestFault | None:
        if obs.done:
            return None  # timed out while draining after [DONE]: the request is complete
        if not expired:  # aiohttp's own connect timeout (a TimeoutError subclass)
            return RequestFault(
                ErrorCategory.CONNECT, f"connect timed out after {self._connect_timeout_s} s"
            )
        if obs.first_token_ns is None:
            category = ErrorCategory.TIMEOUT_BEFORE_FIRST_TOKEN
            where = "before the first token"
        else:
            category = ErrorCategory.TIMEOUT_MID_STREAM
            where = f"mid-stream after {len(obs.chunk_offsets_ns)} chunks"
        return RequestFault(
            category, f"no complete response within {self._request_timeout_s} s, {where}"
        )

    def _error(self, fault: RequestFault | None) -> RequestError | None:
        if fault is None:
            return None
        return RequestError(fault.category, redact(fault.message, self._secrets), fault.http_status)


async def _read_events(content: aiohttp.StreamReader, obs: Observation) -> None:
    """Reads the SSE body until `[DONE]` or EOF; each read's events share its arrival time.

    A clean EOF right after a final event (finish_reason, or usage only) is a complete answer
    without `[DONE]`; anywhere else it is a truncation (docs/reliability.md).
    """
    decoder = SSEDecoder()
    while True:
        data = await content.readany()
        arrival_ns = monotonic_ns()
        if not data:
            break
        for event in decoder.feed(data):
            obs.on_data(event.data, arrival_ns)
            if obs.done:
                await _drain(content)
                return
    decoder.finish()
    if decoder.had_partial_event:
        obs.end_ns = arrival_ns
        raise RequestFault(
            ErrorCategory.PROTOCOL, f"stream ended before {obs.END_MARK} inside an event"
        )
    if not obs.on_clean_eof(arrival_ns):
        raise RequestFault(
            ErrorCategory.PROTOCOL,
            f"stream ended before {obs.END_MARK} and before any {obs.FINAL_MARK}",
        )


async def _drain(content: aiohttp.StreamReader) -> None:
    """Reads what follows [DONE] (usually just the end of the chunked body), briefly."""
    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
        async with asyncio.timeout(_DRAIN_AFTER_DONE_S):
            while await content.readany():
                pass


def _headers(api_key: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    headers.update(extra or {})
    return headers


async def list_models(
    base_url: str,
    *,
    api_key: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
    timeout_s: float = 10.0,
) -> list[str]:
    """The model ids the target serves (`GET /v1/models`).

    Raises EndpointError when the target cannot be reached, answers with an error status, or
    answers with something that is not a model list; messages never contain the API key.
    """
    check_one_authorization(base_url, api_key)
    url = api_root(base_url) + "/v1/models"
    secrets = [api_key] if api_key else []
    headers = _headers(api_key, extra_headers)
    try:
        async with (
            asyncio.timeout(timeout_s),
            make_session(connection_limit=1, connect_timeout_s=timeout_s) as session,
            session.get(url, headers=headers) as resp,
        ):
            status = resp.status
            body = await resp.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        reason = f"no answer within {timeout_s} s" if isinstance(exc, TimeoutError) else exc
        raise EndpointError(
            redact(f"cannot reach {url}: {reason}", secrets),
            hint="check that the server is running and the base URL (scheme, host, port)",
        ) from exc
    if status != 200:
        raise EndpointError(
            redact(f"GET {url} returned HTTP {status}: {clip(error_text(body))}", secrets),
            hint=_status_hint(status),
        )
    return _model_ids(body, url, secrets)


def _status_hint(status: int) -> str:
    if status in (401, 403):
        return "check the API key"
    if status == 404:
        return "check the base URL: the server root (http://host:port) or one ending in /v1"
    # Some servers (transformers serve) answer 500 here yet serve their model: naming it skips
    # the list altogether.
    return (
        "name the model with --model (the list is then not asked for), or check the server's logs"
    )


def _model_ids(body: bytes, url: str, secrets: list[str]) -> list[str]:
    try:
        obj = json_loads(body)
    except ValueError:
        obj = None
    data = obj.get("data") if isinstance(obj, dict) else None
    if not isinstance(data, list) or not all(
        isinstance(m, dict) and isinstance(m.get("id"), str) for m in data
    ):
        text = clip(body.decode("utf-8", "replace"))
        raise EndpointError(
            redact(f"GET {url} did not return a model list: {text!r}", secrets),
            hint="check that the base URL points at an OpenAI-compatible server",
        )
    return [m["id"] for m in data]
