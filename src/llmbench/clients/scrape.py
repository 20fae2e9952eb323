"""What a target tells about itself besides answering: its Prometheus endpoint (fetched for
the server-metrics scraper, on a session of its own, never the run's pool), its Server and
version headers, its version endpoint, and the engine guessed from all of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import aiohttp
from pydantic import BaseModel, ConfigDict

from llmbench.clients.engines import detect_engine
from llmbench.clients.http import api_root, json_loads, make_session
from llmbench.monitor.decomposition import ServerPhases
from llmbench.monitor.server_metrics import ScrapeFailure
from llmbench.redaction import redact

METRICS_BODY_LIMIT = 16 * 1024 * 1024  # a larger exposition is not a metrics page
# vLLM /version, SGLang /get_server_info, TGI /info: each answers JSON with a "version"
_INFO_PATHS = ("/version", "/get_server_info", "/info")


class TargetEnvironment(BaseModel):
    """run.json's `target.environment`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    server_headers: list[str]
    version_headers: dict[str, str]
    version_endpoint: dict[str, str] | None  # {path, version}
    engine_guess: dict[str, str | None] | None = None  # {engine, evidence}


def default_metrics_url(base_url: str) -> str:
    return api_root(base_url) + "/metrics"


class MetricsSource:
    """`async with MetricsSource(url) as source: text = await source.get()`; a failed GET
    raises ScrapeFailure naming its kind (http_404, connection, too_large, not_text)."""

    def __init__(self, url: str, headers: Mapping[str, str] | None = None) -> None:
        self.url = url
        self._headers = dict(headers or {})
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> MetricsSource:
        self._session = make_session(connection_limit=1, connect_timeout_s=5.0)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()

    async def get(self) -> str:
        assert self._session is not None, "use `async with MetricsSource(...)`"
        try:
            async with self._session.get(self.url, headers=self._headers) as resp:
                if resp.status != 200:
                    raise ScrapeFailure(f"http_{resp.status}")
                body = await resp.content.read(METRICS_BODY_LIMIT + 1)
        except aiohttp.ClientError as exc:
            raise ScrapeFailure("connection") from exc
        if len(body) > METRICS_BODY_LIMIT:
            raise ScrapeFailure("too_large")
        try:
            return body.decode()
        except UnicodeDecodeError as exc:
            raise ScrapeFailure("not_text") from exc


async def describe_target(
    base_url: str,
    *,
    api_key: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
    timeout_s: float = 3.0,
    guess_engine: bool = True,
) -> TargetEnvironment:
    """run.json's `target.environment`: the Server and version headers of the target's
    answers, the body of a version endpoint where it has one, and the engine guessed by
    `detect_engine`. Every GET is bounded by `timeout_s`; what does not answer is absent."""
    secrets = [api_key] if api_key else []
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    headers.update(extra_headers or {})
    root = api_root(base_url)
    answers: dict[str, tuple[int, dict[str, str], bytes]] = {}
    async with make_session(connection_limit=0, connect_timeout_s=timeout_s) as session:

        async def get(path: str) -> None:
            try:
                async with (
                    asyncio.timeout(timeout_s),
                    session.get(root + path, headers=headers) as r,
                ):
                    answers[path] = (r.status, dict(r.headers), await r.content.read(64 * 1024))
            except (aiohttp.ClientError, TimeoutError):
                return

        async with asyncio.TaskGroup() as group:
            # Not /v1/models: a named model must not make the run ask for it (engines.md).
            for path in _INFO_PATHS:
                group.create_task(get(path))
    environment: dict[str, Any] = {
        "server_headers": sorted({h["Server"] for _, h, _ in answers.values() if "Server" in h}),
        "version_headers": {
            k: v for _, h, _ in answers.values() for k, v in h.items() if "version" in k.lower()
        },
        "version_endpoint": _version_endpoint(answers),
    }
    if guess_engine:
        detection = await detect_engine(
            base_url, api_key=api_key, extra_headers=extra_headers, timeout_s=timeout_s
        )
        environment["engine_guess"] = {"engine": detection.engine, "evidence": detection.evidence}
    return TargetEnvironment.model_validate(redact_all(environment, secrets))


def _version_endpoint(
    answers: dict[str, tuple[int, dict[str, str], bytes]],
) -> dict[str, Any] | None:
    for path in _INFO_PATHS:
        status, _, body = answers.get(path, (0, {}, b""))
        if status != 200:
            continue
        try:
            parsed = json_loads(body)
        except ValueError:
            continue
        if isinstance(parsed, dict) and "version" in parsed:
            return {"path": path, "version": str(parsed["version"])}
    return None


async def read_sim_phases(
    base_url: str, *, timeout_s: float = 30.0
) -> tuple[dict[str, ServerPhases] | None, str]:
    """The embedded simulator's engine phases per request id (`GET /sim/phases`), for the
    exact decomposition; None and why when it does not give them (bounded by `timeout_s`)."""
    url = api_root(base_url) + "/sim/phases"
    try:
        async with (
            make_session(connection_limit=1, connect_timeout_s=timeout_s) as session,
            asyncio.timeout(timeout_s),
            session.get(url) as response,
        ):
            if response.status != 200:
                return None, f"the simulator's /sim/phases answered HTTP {response.status}"
            body = json_loads(await response.read())
        index = {name: k for k, name in enumerate(body["fields"])}
        at = [index[n] for n in ("request_id", "queued_ns", "admitted_ns", "first_token_ns")]
    except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError) as exc:
        return None, f"the simulator's /sim/phases could not be read ({type(exc).__name__})"
    phases = {
        row[at[0]]: ServerPhases(row[at[1]], row[at[2]], row[at[3]])
        for row in body["requests"]
        if None not in (row[at[1]], row[at[2]], row[at[3]])
    }
    return phases, "the embedded simulator's log (its engine phases per request)"


def redact_all(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {k: redact_all(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_all(v, secrets) for v in value]
    return value
