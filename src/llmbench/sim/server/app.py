"""The simulator's aiohttp application: routes, auth, faults and the timed emission loop.

`build_app` gives the application (for in-process use; `serving.serve` runs it on a socket).
Every chunk is written at an absolute deadline and logged.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hmac
import itertools
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import suppress

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from llmbench.sim.server.a2a import A2AFace
from llmbench.sim.server.agent import agent_script
from llmbench.sim.server.arrival import ArrivalClock
from llmbench.sim.server.clock import deadline_waiter
from llmbench.sim.server.config import SimConfig
from llmbench.sim.server.emit import (
    ChunkPlan,
    Plan,
    due_chunks,
    emit_chunks,
    emit_direct,
    emit_twin,
    last_deadline,
    tail,
)
from llmbench.sim.server.exposition import prometheus_text
from llmbench.sim.server.faults import (
    FAULT_HEADER,
    Fault,
    FaultError,
    FaultPolicy,
    HugeChunkEncoder,
    delayed_after,
    done_tail,
    parse_fault,
)
from llmbench.sim.server.images import ImageRule
from llmbench.sim.server.log import EmissionLog, RequestLog
from llmbench.sim.server.messages import (
    MESSAGES_PATH,
    parse_generation,
    presented_key,
    refusal_body,
    response_encoder,
    unauthorized_body,
)
from llmbench.sim.server.protocol import (
    ApiError,
    GenerationRequest,
    Kind,
    ResponseEncoder,
    error_body,
)
from llmbench.sim.server.schedule import chunk_deadlines_ns, request_rng, token_deadlines_ns
from llmbench.sim.server.served import TwinRunner, TwinStream
from llmbench.sim.server.taskface import TaskFace
from llmbench.sim.server.truth import TruthFace
from llmbench.sim.twin.engine import AdmissionError

REQUEST_ID_HEADER = "X-Request-Id"
_JSON = "application/json"
_ARRIVAL_NS = web.RequestKey("arrival_ns", int)  # 0: unknown (no stamping protocol in front)
_MALFORMED_CHUNKS = 2  # good token chunks sent before the malformed event
_STATUS_FAULTS = {
    429: ("Rate limit reached (simulated fault)", "requests", "rate_limit_exceeded"),
    500: (
        "The server had an error processing your request (simulated fault)",
        "server_error",
        None,
    ),
    503: ("The server is overloaded (simulated fault)", "server_error", "service_unavailable"),
}


async def _send(request: web.Request, response: web.StreamResponse) -> int:
    """Write a whole response now; return the monotonic time just after the write."""
    await response.prepare(request)
    await response.write_eof()
    return time.monotonic_ns()


def _json_response(status: int, body: bytes, request_id: str | None = None) -> web.Response:
    headers = {REQUEST_ID_HEADER: request_id} if request_id else None
    return web.Response(status=status, body=body, content_type=_JSON, headers=headers)


def _close_connection(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.close()


class _Simulator:
    """State and handlers of one application: config, emission log, request counter."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.log = EmissionLog(config.log_capacity)
        self._created = int(time.time())
        self._seq = 0
        self.waiter = deadline_waiter()
        self.arrivals = ArrivalClock()
        self.faults = FaultPolicy(config.fault_rates, config.fault_seed)
        self.image_rule = ImageRule(config.image_patch_px, config.image_max_tokens)
        twin = config.twin
        self.twin = (
            TwinRunner(twin, config.seed, self.waiter)
            if twin is not None and twin.timing != "fixed"
            else None
        )

    async def twin_loop(self, app: web.Application) -> AsyncIterator[None]:
        """Runs the twin's engine loop (if any) for the application's lifetime (aiohttp
        cleanup_ctx), then releases the deadline waiter."""
        task = asyncio.get_running_loop().create_task(self.twin.run()) if self.twin else None
        yield
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        self.waiter.close()

    def authorized(self, request: web.Request) -> bool:
        if self.config.api_key is None:
            return True
        scheme, _, token = presented_key(request.path, request.headers).partition(" ")
        presented = token.strip().encode("utf-8", "surrogateescape")
        expected = self.config.api_key.encode("utf-8", "surrogateescape")
        # Constant-time comparison; neither value ever goes into a response or the log.
        return scheme.lower() == "bearer" and hmac.compare_digest(presented, expected)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, "chat")

    async def completions(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, "completions")

    async def _generate(self, request: web.Request, kind: Kind) -> web.StreamResponse:
        received_ns = request.get(_ARRIVAL_NS) or time.monotonic_ns()
        entry = self.log.open(_request_id(request), request.path, received_ns)
        self._seq += 1
        seq = self._seq  # taken now: other requests arrive while this body is read
        try:
            # The header wins over the configured rates: a test can pin one request's fault.
            fault = parse_fault(request.headers.get(FAULT_HEADER)) or self.faults.pick(seq)
            entry.fault = fault.name if fault else None
            raw = await self._read_body(request)
            entry.body_ns, entry.body_bytes = time.monotonic_ns(), len(raw)
            # Reads after a body's first stamped its connection again; the next request's
            # arrival is the next byte after this body (clients here do not pipeline).
            self.arrivals.take(request.transport)
            gen = parse_generation(
                raw, kind, self.config.model, self.config.max_tokens_limit, self.image_rule
            )
        except FaultError as exc:
            return await self._refuse(request, entry, ApiError(400, str(exc), param=FAULT_HEADER))
        except ApiError as exc:
            return await self._refuse(request, entry, exc)
        gen, script = self._accepted(gen, entry)
        if fault is not None and fault.status is not None:
            message, type_, code = _STATUS_FAULTS[fault.status]
            if fault.echo_auth:  # a careless server quoting the caller's key back
                message += f"; received Authorization: {request.headers.get('Authorization')}"
            error = ApiError(fault.status, message, type_=type_, code=code)
            return await self._refuse(request, entry, error, fault.retry_after_s)
        if fault is not None and fault.wrong_content_type:
            return await self._wrong_content_type(request, entry)
        start_ns = received_ns + (fault.start_delay_ns if fault else 0)
        plan: Plan
        if self.twin is None:  # no queue: served at once, after any start-delay fault
            entry.queued_ns, entry.admitted_ns = received_ns, start_ns
            start_ns += self.config.prefill_ns(gen.prompt_tokens)
            plan = delayed_after(self._plan(start_ns, gen.max_tokens, seq, entry), fault)
        else:  # the engine times the tokens; a mid-stream stall delays their delivery
            try:
                reply_words = [t.strip() for t in script] if script else None
                plan = self.twin.submit(
                    start_ns, gen.prompt_tokens, gen.max_tokens, gen.prompt_words, reply_words
                )
            except AdmissionError as exc:
                error = ApiError(400, str(exc), param="messages", code="context_length_exceeded")
                return await self._refuse(request, entry, error)
            entry.engine_arrival_ns, plan.log = plan.engine_arrival_ns, entry
            if fault is not None and fault.stall_after_chunks is not None:
                plan.stall_after_chunks = fault.stall_after_chunks
                plan.stall_ns = fault.stall_after_ns
        encoder = self._encoder(gen, script, fault)
        if fault is not None and fault.headers_delay_ns:
            await self.waiter.sleep_until(received_ns + fault.headers_delay_ns)
        if gen.stream:
            return await self._stream(request, entry, gen, fault, plan, encoder)
        return await self._unary(request, entry, gen, fault, plan, encoder)

    def _accepted(
        self, gen: GenerationRequest, entry: RequestLog
    ) -> tuple[GenerationRequest, tuple[str, ...] | None]:
        """Logs what a valid request asks for; with `reply: agent`, its scripted reply."""
        entry.stream, entry.prompt_tokens = gen.stream, gen.prompt_tokens
        entry.images, entry.image_tokens = gen.images, gen.image_tokens
        entry.thinking_tokens = gen.thinking_tokens
        if self.config.reply != "agent" or gen.kind != "chat":
            return gen, None
        return self._agent_reply(gen, entry)

    def _encoder(
        self, gen: GenerationRequest, script: tuple[str, ...] | None, fault: Fault | None
    ) -> ResponseEncoder:
        encoder = response_encoder(gen, self.config.model)
        if script is not None:
            encoder.script(script)
        if fault is not None and fault.huge_chunk_bytes:
            encoder = HugeChunkEncoder(encoder, fault.huge_chunk_bytes)
        return encoder

    def _agent_reply(
        self, gen: GenerationRequest, entry: RequestLog
    ) -> tuple[GenerationRequest, tuple[str, ...]]:
        """The agent's reply to this step: its tokens, and the request cut to their number."""
        cfg = self.config
        script = agent_script(
            cfg.seed, gen.assistant_turns, cfg.agent_think_tokens, cfg.agent_finish_after
        )
        n_tokens = min(gen.max_tokens, len(script.texts))
        if script.action_index < n_tokens:
            entry.action_token = script.action_index
        return dataclasses.replace(gen, max_tokens=n_tokens), script.texts

    async def _read_body(self, request: web.Request) -> bytes:
        limit = self.config.max_body_bytes
        too_large = ApiError(413, f"request body exceeds {limit} bytes", code="body_too_large")
        if request.content_length is not None and request.content_length > limit:
            raise too_large
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge as exc:  # chunked body over client_max_size
            raise too_large from exc

    def _plan(
        self, start_ns: int, n_tokens: int, seq: int, entry: RequestLog | None = None
    ) -> ChunkPlan:
        cfg = self.config
        rng = request_rng(cfg.seed, seq) if cfg.jitter_ns > 0 else None
        tokens = token_deadlines_ns(start_ns, n_tokens, cfg.ttft_ns, cfg.itl_ns, cfg.jitter_ns, rng)
        if entry is not None and (first := next(tokens, None)) is not None:
            entry.first_token_ns, tokens = first, itertools.chain((first,), tokens)
        return chunk_deadlines_ns(tokens, cfg.tokens_per_chunk)

    def model_plan(
        self, start_ns: int, prompt_tokens: int, max_tokens: int, words: tuple[str, ...] | None
    ) -> Plan:
        """A model call of an agent face: on the twin when there is one, else the schedule."""
        self._seq += 1
        if self.twin is None:
            return self._plan(start_ns, max_tokens, self._seq)
        return self.twin.submit(start_ns, prompt_tokens, max_tokens, words)

    async def token_times(
        self, start_ns: int, words: tuple[str, ...], max_tokens: int
    ) -> AsyncGenerator[tuple[int, int], None]:
        """One generation's (deadline_ns, tokens), each yielded once due (the A2A face's)."""
        plan = self.model_plan(start_ns, len(words), max_tokens, words)
        try:
            async for chunk in due_chunks(plan, self.waiter, self.config.tokens_per_chunk):
                yield chunk
        finally:
            self._release(plan if isinstance(plan, TwinStream) else None)

    async def _refuse(
        self, request: web.Request, entry: RequestLog, error: ApiError, retry_after_s: int = 1
    ) -> web.StreamResponse:
        body = refusal_body(entry.endpoint, error)
        response = _json_response(error.status, body, entry.request_id)
        if error.status == 429:
            response.headers["Retry-After"] = str(retry_after_s)
        entry.status, entry.outcome = error.status, "error"
        return await self._send_logged(request, entry, response)

    async def _wrong_content_type(
        self, request: web.Request, entry: RequestLog
    ) -> web.StreamResponse:
        headers = {REQUEST_ID_HEADER: entry.request_id}
        text = "simulated fault: this is not an API response\n"
        response = web.Response(text=text, content_type="text/plain", headers=headers)
        entry.status, entry.outcome = 200, "complete"
        return await self._send_logged(request, entry, response)

    async def _send_logged(
        self, request: web.Request, entry: RequestLog, response: web.StreamResponse
    ) -> web.StreamResponse:
        try:
            entry.headers_ns = entry.done_ns = await _send(request, response)
        except ConnectionError:
            entry.outcome, entry.done_ns = "client_closed", time.monotonic_ns()
        return response

    async def _stream(
        self,
        request: web.Request,
        entry: RequestLog,
        gen: GenerationRequest,
        fault: Fault | None,
        plan: Plan,
        encoder: ResponseEncoder,
    ) -> web.StreamResponse:
        headers = {"Cache-Control": "no-cache", REQUEST_ID_HEADER: entry.request_id}
        response = web.StreamResponse(headers=headers)
        response.content_type = "text/event-stream"
        cut_after = fault.cut_after_chunks if fault else None
        malformed = fault is not None and fault.malformed_sse
        error_event = fault is not None and fault.error_event
        twin = plan if isinstance(plan, TwinStream) else None
        try:
            await response.prepare(request)
            # The role chunk carries no token; completions send bare headers right away.
            await response.write(encoder.role_event() if gen.kind != "completions" else b"")
            entry.headers_ns, entry.status = time.monotonic_ns(), 200
            limit = _MALFORMED_CHUNKS if malformed or error_event else cut_after
            self.waiter.run_due()
            transport = request.transport
            chunked = response.headers.get(hdrs.TRANSFER_ENCODING) == "chunked"
            if fault is None and chunked and transport is not None:
                await emit_direct(
                    response, transport, entry, gen.max_tokens, plan, encoder, self.waiter,
                    self.config.tokens_per_chunk,
                )  # fmt: skip
            elif twin is None:
                assert not isinstance(plan, TwinStream)
                await emit_chunks(
                    response, entry, gen.max_tokens, plan, encoder, limit, self.waiter
                )
            else:
                await emit_twin(
                    response, entry, gen.max_tokens, twin, encoder, limit, self.waiter,
                    self.config.tokens_per_chunk,
                )  # fmt: skip
            if cut_after is not None:
                _close_connection(request)
                entry.outcome, entry.done_ns = "cut", time.monotonic_ns()
                return response
            # One write for the tail: each write is a syscall and a wake-up of the client.
            end = tail(gen, encoder, malformed, twin, error_event)
            await response.write(done_tail(end, fault))
            entry.outcome = "complete"
        except ConnectionError:
            entry.outcome = "client_closed"
        finally:
            self._release(twin)
        entry.done_ns = time.monotonic_ns()
        return response

    def _release(self, twin: TwinStream | None) -> None:
        """A stream that ended early (cut, client gone) gives its engine slot back."""
        if twin is not None and self.twin is not None:
            self.twin.abort(twin)

    async def _unary(
        self,
        request: web.Request,
        entry: RequestLog,
        gen: GenerationRequest,
        fault: Fault | None,
        plan: Plan,
        encoder: ResponseEncoder,
    ) -> web.StreamResponse:
        cut_after = fault.cut_after_chunks if fault else None
        twin = plan if isinstance(plan, TwinStream) else None
        try:
            deadline_ns = await last_deadline(plan, cut_after, entry.received_ns)
        finally:
            self._release(twin)
        await self.waiter.sleep_until(deadline_ns)
        if cut_after is not None:
            # No response at all: the connection drops where chunk N would have ended.
            _close_connection(request)
            entry.status, entry.outcome, entry.done_ns = None, "cut", time.monotonic_ns()
            return web.Response()
        body = encoder.body(gen.prompt_tokens, gen.max_tokens, twin.cached_tokens if twin else None)
        if fault is not None and fault.malformed_sse:
            body = body[: len(body) // 2]
        response = _json_response(200, body, entry.request_id)
        entry.status, entry.outcome = 200, "complete"
        await self._send_logged(request, entry, response)
        if entry.done_ns is not None and entry.outcome == "complete":
            entry.record_chunk(deadline_ns, entry.done_ns, gen.max_tokens)
        return response

    async def models(self, request: web.Request) -> web.StreamResponse:
        model = {
            "id": self.config.model,
            "object": "model",
            "created": self._created,
            "owned_by": "llmbench-sim",
        }
        return web.json_response({"object": "list", "data": [model]})

    async def health(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"status": "ok"})

    def metrics_text(self) -> str:
        """Prometheus text: the twin's queue, batch, KV usage and prefix hit rate."""
        values = self.twin.metrics() if self.twin is not None else {}
        values["llmbench_sim_requests_total"] = self._seq
        histograms = self.twin.histograms if self.twin is not None else None
        return prometheus_text(values, histograms)

    async def model_call(self, start_ns: int, words: tuple[str, ...], max_tokens: int) -> int:
        """A task step's model call (task face): sleeps until its last token is due."""
        plan = self.model_plan(start_ns, len(words), max_tokens, words)
        try:
            end_ns = await last_deadline(plan, None, start_ns)
        finally:
            self._release(plan if isinstance(plan, TwinStream) else None)
        await self.waiter.sleep_until(end_ns)
        return end_ns


_SIMULATOR = web.AppKey("simulator", _Simulator)


def _request_id(request: web.Request) -> str:
    return request.headers.get(REQUEST_ID_HEADER) or f"sim-{uuid.uuid4().hex}"


def _middleware(sim: _Simulator) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        # Taken for every request, so a stamp never outlives its request on a kept-alive socket.
        request[_ARRIVAL_NS] = sim.arrivals.take(request.transport) or 0
        sim.waiter.run_due()  # tokens due now go before this request's handling
        request_id = _request_id(request)
        try:
            if request.path.startswith("/v1/") and not sim.authorized(request):
                body = unauthorized_body(request.path)
                return _json_response(401, body, request_id)
            response = await handler(request)
        except web.HTTPException as exc:  # unknown path, wrong method, ...: JSON, not HTML
            if exc.status < 400:
                raise
            code = exc.reason.lower().replace(" ", "_")
            response = _json_response(
                exc.status, error_body(exc.reason, "invalid_request_error", code=code)
            )
            response.headers.extend((k, v) for k, v in exc.headers.items() if k == "Allow")
        if not response.prepared and REQUEST_ID_HEADER not in response.headers:
            response.headers[REQUEST_ID_HEADER] = request_id
        return response

    return middleware


def build_app(config: SimConfig) -> web.Application:
    """The simulator as an aiohttp application (no socket bound yet)."""
    sim = _Simulator(config)
    app = web.Application(client_max_size=config.max_body_bytes, middlewares=[_middleware(sim)])
    app[_SIMULATOR] = sim
    app.router.add_get("/health", sim.health)
    app.router.add_get("/v1/models", sim.models)
    app.router.add_post("/v1/chat/completions", sim.chat)
    app.router.add_post("/v1/completions", sim.completions)
    app.router.add_post(MESSAGES_PATH, functools.partial(sim._generate, kind="messages"))
    TruthFace(sim.log, sim.metrics_text).install(app)
    A2AFace(sim.token_times, config.api_key).install(app)
    app.cleanup_ctx.append(sim.twin_loop)
    TaskFace(config.task_options, config.seed, config.api_key, sim.model_call).install(app)
    return app


def arrival_clock(app: web.Application) -> ArrivalClock:
    """The clock that stamps each request's first byte, for the server in front of `app`."""
    return app[_SIMULATOR].arrivals
