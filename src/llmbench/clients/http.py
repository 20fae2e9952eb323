"""aiohttp plumbing shared by the protocol clients: sessions, URLs, JSON and error mapping.

This is the boundary where aiohttp exceptions and HTTP statuses become llmbench error
categories; protocol modules raise `RequestFault` and never inspect aiohttp errors themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from email.utils import parsedate_to_datetime
from time import monotonic_ns
from types import SimpleNamespace
from typing import Any, Protocol

import aiohttp

from llmbench.errors import ConfigError
from llmbench.records import ErrorCategory

try:  # orjson is faster but optional: json is the fallback
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised only where orjson is absent
    _orjson = None  # type: ignore[assignment]

ERROR_BODY_LIMIT = 64 * 1024  # bytes of an error response we read; the rest is not needed
MESSAGE_LIMIT = 500  # characters of a server message kept in a record


def json_loads(data: str | bytes) -> Any:
    """Parses JSON; raises ValueError (both libraries' decode errors subclass it)."""
    if _orjson is not None:
        return _orjson.loads(data)
    return json.loads(data)


def json_dumps(obj: Any) -> bytes:
    if _orjson is not None:
        return _orjson.dumps(obj)
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class RequestFault(Exception):
    """Ends a request as failed; caught in `send`, which turns it into `RequestRecord.error`."""

    def __init__(
        self,
        category: ErrorCategory,
        message: str,
        http_status: int | None = None,
        retry_after_s: float | None = None,
        *,
        closed_before_answer: bool = False,
    ) -> None:
        super().__init__(message)
        self.category = category
        self.message = message
        self.http_status = http_status
        self.retry_after_s = retry_after_s  # the server's Retry-After, when it sent one
        # The connection closed (or reset) before any response byte: on a reused pooled
        # connection, the server had closed it before taking the request.
        self.closed_before_answer = closed_before_answer


def retry_after_s(value: str | None, now_s: float) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or HTTP-date), None if absent
    or unreadable; a date in the past means no wait."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now_s)


def api_root(base_url: str) -> str:
    """`http://h:p`, `http://h:p/` and `http://h:p/v1` all name the root `http://h:p`."""
    root = base_url.strip().rstrip("/")
    return root.removesuffix("/v1")


def check_one_authorization(base_url: str, api_key: str | None) -> None:
    """HTTP carries one Authorization: user:password in the URL and an API key cannot both go."""
    if api_key and "@" in base_url.partition("://")[2].partition("/")[0]:
        raise ConfigError(
            "the URL carries user:password and an API key is set; only one can be sent",
            where="--base-url",
            hint="drop the credentials from the URL, or unset the key variable",
        )


def make_session(
    *,
    connection_limit: int,
    connect_timeout_s: float,
    headers: dict[str, str] | None = None,
    force_close: bool = False,
) -> aiohttp.ClientSession:
    """One session per client: a pool of `connection_limit` connections (0 = unlimited);
    `force_close`: a new connection for every request, none kept.

    No total timeout: `send` bounds each request itself, so it can tell a timeout before the
    first token from one mid-stream.
    """
    connector = aiohttp.TCPConnector(
        limit=connection_limit, limit_per_host=0, force_close=force_close
    )
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout_s)
    return aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers=headers, trace_configs=[_WRITE_TRACE]
    )


async def open_pooled(
    session: aiohttp.ClientSession,
    url: Any,
    n: int,
    *,
    connect_timeout_s: float,
    timeout_s: float,
) -> int:
    """Opens up to `n` kept-alive connections to `url`'s host in `session`'s pool (a plain
    connect that sends nothing); returns how many opened within `timeout_s`."""
    connector = session.connector
    if connector is None:
        return 0
    probe = aiohttp.ClientRequest("POST", url, loop=asyncio.get_running_loop())
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout_s)
    opened: list[aiohttp.connector.Connection] = []

    async def one() -> None:
        with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
            opened.append(await connector.connect(probe, [], timeout))

    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s), asyncio.TaskGroup() as group:
                for _ in range(n):
                    group.create_task(one())
    finally:
        for connection in opened:  # all held until now: each connect made a new one
            connection.release()
    return len(opened)


class WriteStamp(Protocol):
    """Passed as `trace_request_ctx`: gets the time the request was handed to its connection
    (just before aiohttp's one transport write of headers and body; docs/metrics.md), and
    whether the request went out on a connection the pool reused."""

    sent_ns: int
    reused_connection: bool


async def _on_chunk_sent(
    session: aiohttp.ClientSession,
    context: SimpleNamespace,
    params: aiohttp.TraceRequestChunkSentParams,
) -> None:
    stamp: WriteStamp | None = context.trace_request_ctx
    if stamp is not None:
        stamp.sent_ns = monotonic_ns()


async def _on_reuse(
    session: aiohttp.ClientSession,
    context: SimpleNamespace,
    params: aiohttp.TraceConnectionReuseconnParams,
) -> None:
    stamp: WriteStamp | None = context.trace_request_ctx
    if stamp is not None:
        stamp.reused_connection = True


def _write_trace() -> aiohttp.TraceConfig:
    """`sent_ns` is when aiohttp is about to write the request (headers and a `bytes` body in one
    transport write; the signal fires just before it), not when aiohttp got the call: the pool
    wait, connection set-up and event-loop queueing in between are client lag, not TTFT. A body
    larger than the socket takes at once is still uploading after it: that time is in TTFT."""
    trace = aiohttp.TraceConfig()
    trace.on_request_chunk_sent.append(_on_chunk_sent)
    trace.on_connection_reuseconn.append(_on_reuse)
    trace.freeze()
    return trace


_WRITE_TRACE = _write_trace()


def status_category(status: int) -> ErrorCategory:
    """The category of an HTTP error status (≥ 400)."""
    if status == 429:
        return ErrorCategory.HTTP_429
    return ErrorCategory.HTTP_5XX if status >= 500 else ErrorCategory.HTTP_4XX


def fault_from_client_error(exc: aiohttp.ClientError, *, got_headers: bool) -> RequestFault:
    """Maps an aiohttp exception raised while sending or reading to a `RequestFault`."""
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return RequestFault(ErrorCategory.CONNECT, f"cannot connect: {_describe(exc)}")
    when = "mid-stream" if got_headers else "before the response headers"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return RequestFault(ErrorCategory.PROTOCOL, f"response body cut off: {_describe(exc)}")
    closed = not got_headers and isinstance(
        exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError
    )
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        message = f"server disconnected {when}"
    else:
        message = f"connection failed {when}: {_describe(exc)}"
    return RequestFault(ErrorCategory.PROTOCOL, message, closed_before_answer=closed)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def read_error_message(resp: aiohttp.ClientResponse) -> str:
    """The server's explanation of an error status, from at most `ERROR_BODY_LIMIT` bytes."""
    body = b""
    while len(body) < ERROR_BODY_LIMIT:
        piece = await resp.content.read(ERROR_BODY_LIMIT - len(body))
        if not piece:
            break
        body += piece
    return clip(error_text(body) or resp.reason or "")


def error_text(body: bytes) -> str:
    """`error.message` (OpenAI), `detail` or `message` of a JSON body; else the body as text."""
    try:
        obj = json_loads(body)
    except ValueError:
        return body.decode("utf-8", "replace").strip()
    if isinstance(obj, dict):
        err = obj.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        for key in ("detail", "message", "error"):
            if obj.get(key):
                return str(obj[key])
    return body.decode("utf-8", "replace").strip()


def clip(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT] + "…"
