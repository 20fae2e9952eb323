"""Serving-engine profiles: which engine answers at a URL (its metric names, its own endpoints),
the request fields that make it generate exactly `max_tokens` (`--force-length`), and one clear
error when a server refuses a request field, instead of a run of identical failures.

Field names and their sources are listed in docs/engines.md.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from llmbench.clients.http import (
    ERROR_BODY_LIMIT,
    api_root,
    check_one_authorization,
    clip,
    error_text,
    json_dumps,
    make_session,
)
from llmbench.config.run import ENGINE_NAMES, EngineName
from llmbench.errors import ConfigError, EndpointError
from llmbench.redaction import redact

ForceFields = Callable[[int], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class EngineProfile:
    name: EngineName
    label: str
    force_fields: ForceFields | None  # None: no request field forces the length
    why_not: str = ""  # when force_fields is None: what the engine offers instead


def _ignore_eos_min_tokens(n: int) -> dict[str, Any]:
    return {"ignore_eos": True, "min_tokens": n}


PROFILES: dict[str, EngineProfile] = {
    p.name: p
    for p in (
        EngineProfile("vllm", "vLLM", _ignore_eos_min_tokens),
        EngineProfile("sglang", "SGLang", _ignore_eos_min_tokens),
        EngineProfile(
            "tgi",
            "TGI",
            None,
            "its request parameters have no field that ignores the end-of-sequence token "
            "(some builds have a server-wide setting instead)",
        ),
        EngineProfile(
            "llamacpp", "llama.cpp server", lambda n: {"ignore_eos": True, "n_predict": n}
        ),
        # A JSON *string*: transformers serve parses it into a GenerationConfig; -1 is no token.
        EngineProfile(
            "transformers",
            "transformers serve",
            lambda n: {"generation_config": '{"eos_token_id": -1}'},
        ),
        EngineProfile(
            "ollama",
            "Ollama",
            None,
            "its OpenAI endpoint takes max_tokens (a cap) and no field that ignores the "
            "end-of-sequence token",
        ),
        EngineProfile(
            "openai",
            "OpenAI",
            None,
            "the OpenAI API has max_tokens (a cap) and no field that forces the length",
        ),
    )
}


def force_length_fields(engine: EngineName) -> ForceFields:
    """The per-request fields that make `engine` generate exactly `max_tokens` tokens; a
    ConfigError when it has none."""
    profile = PROFILES[engine]
    if profile.force_fields is None:
        raise ConfigError(
            f"{profile.label} cannot be made to generate a fixed length: {profile.why_not}",
            where="--force-length",
            hint="drop --force-length; the report counts answers shorter than requested",
        )
    return profile.force_fields


@dataclass(frozen=True, slots=True)
class Detection:
    engine: EngineName | None
    evidence: str  # what gave it away, or what was tried


# (path, test on the answer's text, engine, evidence): the first that matches wins.
_PROBES: tuple[tuple[str, Callable[[str], bool], EngineName, str], ...] = (
    ("/metrics", lambda t: "vllm:" in t, "vllm", "metric names vllm:*"),
    ("/metrics", lambda t: "sglang:" in t, "sglang", "metric names sglang:*"),
    ("/metrics", lambda t: "tgi_" in t, "tgi", "metric names tgi_*"),
    ("/metrics", lambda t: "llamacpp:" in t, "llamacpp", "metric names llamacpp:*"),
    ("/info", lambda t: "text-generation-router" in t, "tgi", "GET /info names its router"),
    ("/props", lambda t: "default_generation_settings" in t, "llamacpp", "GET /props"),
    ("/api/version", lambda t: '"version"' in t, "ollama", "GET /api/version"),
    ("/get_server_info", lambda t: '"version"' in t, "sglang", "GET /get_server_info"),
    # Weak: only a version; after SGLang's own endpoint, so an SGLang with both is SGLang.
    ("/version", lambda t: t.lstrip().startswith('{"version"'), "vllm", "GET /version"),
)
_SERVER_HEADER = "Server"  # every probe's answer (any status) may name the server


async def detect_engine(
    base_url: str,
    *,
    api_key: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
    timeout_s: float = 3.0,
) -> Detection:
    """Which engine serves `base_url`, from its host (api.openai.com), the metric names on
    /metrics, endpoints only one engine has, and the Server header (llama.cpp names itself);
    `engine` None when nothing matched. Every probe is a GET on its own short-lived session:
    nothing here touches the run's pool."""
    if (urlsplit(base_url).hostname or "").endswith("openai.com"):
        return Detection("openai", "the host is openai.com")
    check_one_authorization(base_url, api_key)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    headers.update(extra_headers or {})
    root = api_root(base_url)
    paths = sorted({path for path, *_ in _PROBES})
    texts: dict[str, str] = {}
    servers: set[str] = set()
    async with make_session(connection_limit=0, connect_timeout_s=timeout_s) as session:

        async def get(path: str) -> None:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, UnicodeDecodeError):
                async with (
                    asyncio.timeout(timeout_s),
                    session.get(root + path, headers=headers) as r,
                ):
                    servers.add(r.headers.get(_SERVER_HEADER, ""))
                    if r.status == 200:
                        texts[path] = (await r.content.read(ERROR_BODY_LIMIT)).decode()

        async with asyncio.TaskGroup() as group:
            for path in paths:
                group.create_task(get(path))
    if "llmbench_sim_" in texts.get("/metrics", ""):  # it exposes vLLM's names, is not vLLM
        return Detection(None, "the llmbench simulator (metric names llmbench_sim_*)")
    for path, test, engine, evidence in _PROBES:
        if path in texts and test(texts[path]):
            return Detection(engine, evidence)
    if any("llama.cpp" in server for server in servers):
        return Detection("llamacpp", "Server header llama.cpp")
    return Detection(None, "no engine-specific metric names or endpoints answered")


async def check_request_fields(
    url: str,
    body: dict[str, Any],
    *,
    headers: Mapping[str, str],
    sent_fields: Mapping[str, str],
    secrets: list[str],
    timeout_s: float = 60.0,
) -> tuple[int, str] | None:
    """Sends `body` (one short request of the run's shape) once; returns (status, message) when
    the server refuses it with 400 or 422 naming one of `sent_fields`, else None. Any other
    outcome is left to the run, which counts it per request."""
    try:
        async with (
            asyncio.timeout(timeout_s),
            make_session(connection_limit=1, connect_timeout_s=timeout_s) as session,
            session.post(url, data=json_dumps(body), headers=dict(headers)) as resp,
        ):
            status = resp.status
            raw = await resp.content.read(ERROR_BODY_LIMIT)
    except (aiohttp.ClientError, TimeoutError):
        return None
    if status not in (400, 422):
        return None
    message = redact(clip(error_text(raw)), secrets)
    if _named_field(message, sent_fields) is None:
        return None
    return status, message


def _named_field(message: str, sent_fields: Mapping[str, str]) -> str | None:
    return next((name for name in sent_fields if name in message), None)


def refused_field_error(
    status: int,
    message: str,
    *,
    sent_fields: Mapping[str, str],
    detection: Detection,
) -> EndpointError:
    """One error for a refused field: which field, which engine seems to be there, and what
    to use instead. `sent_fields` maps each non-standard field sent to where it came from."""
    field = _named_field(message, sent_fields) or "?"
    if "Unexpected fields in the request" in message:  # stronger than a flag or a probe
        detection = Detection("transformers", "its 422 reads 'Unexpected fields in the request'")
    engine = detection.engine
    seems = (
        f"this looks like {PROFILES[engine].label} ({detection.evidence})"
        if engine
        else "llmbench cannot tell which engine this is"
    )
    return EndpointError(
        f"the server refused the request field {field!r} (HTTP {status}: {message}); {seems}",
        hint=_instead(field, sent_fields.get(field, ""), engine),
    )


def _instead(field: str, origin: str, engine: EngineName | None) -> str:
    if engine is None:
        names = "|".join(ENGINE_NAMES)
        return f"name the engine with --engine {names} (docs/engines.md), or drop {origin}"
    profile = PROFILES[engine]
    if profile.force_fields is None:
        return f"drop {origin}: {profile.label} cannot be made to generate a fixed length"
    fields = ", ".join(f"{k}={v!r}" for k, v in profile.force_fields(1).items())
    uses = f"--force-length --engine {engine} (it sends {fields})"
    if origin == "--extra-body":
        return f"drop {field!r} from --extra-body; for fixed lengths use {uses}"
    return f"use {uses}, or drop {origin}"


def sent_fields_of(
    force: Mapping[str, Any], extra_body: Mapping[str, Any], stream: bool
) -> dict[str, str]:
    """The non-standard fields a request carries, each with the flag it came from."""
    fields = dict.fromkeys(force, "--force-length")
    fields.update(dict.fromkeys(extra_body, "--extra-body"))
    if stream:
        fields.setdefault("stream_options", "streaming (use --no-stream)")
    return fields
