"""`llmbench run`, `demo` and `report`: flags → RunSpec → study.execute_run → terminal summary."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from pydantic import ValidationError

from llmbench.cli.errors import config_error
from llmbench.cli.sources import SpecSources
from llmbench.clients.tokens import load_tokenizer
from llmbench.config import LoadSpec, RunSpec, WorkloadSpec
from llmbench.config.run import EngineName, Profile, parse_mix
from llmbench.config.slo import parse_slo
from llmbench.errors import ConfigError

# Commands import the machinery (aiohttp, numpy, scipy, rich) only when they run, so that
# `llmbench --help` and flag errors answer at once.

# pydantic field path → the flag a user typed, for error messages.
FLAGS = {
    "target.base_url": "--base-url",
    "target.request_timeout_s": "--request-timeout",
    "load.concurrency": "--concurrency",
    "load.requests": "--requests",
    "load.duration_s": "--duration",
    "load.warmup": "--warmup",
    "load": "--requests/--duration",
    "load.concurrencies": "--concurrency",
    "load.rate": "--rate",
    "load.ramp_start_rate": "--ramp-start-rate",
    "load.burstiness": "--burstiness",
    "load.max_concurrency": "--max-concurrency",
    "load.trace": "--trace",
    "load.trace_time_scale": "--time-scale",
    "load.sweep_rates": "--sweep-steps",
    "load.repeat": "--repeat",
    "load.cooldown_s": "--cooldown",
    "load.workers": "--workers",
    "slo": "--slo",
    "workload.input_tokens": "--input-tokens",
    "workload": "--input-tokens/--prefix-tokens",
    "spec": "--profile/--input-tokens",
    "workload.output_tokens": "--output-tokens",
    "workload.input_tokens_stddev": "--input-tokens-stddev",
    "workload.output_tokens_stddev": "--output-tokens-stddev",
    "workload.input_mix": "--input-mix",
    "workload.output_mix": "--output-mix",
    "sim.ttft_ms": "--sim-ttft-ms",
    "sim.itl_ms": "--sim-itl-ms",
    "sim.jitter_ms": "--sim-jitter-ms",
    "sim.tokens_per_chunk": "--sim-tokens-per-chunk",
    "target.connection_limit": "--connection-limit",
    "target.retry_429_attempts": "--retry-429-attempts",
    "target.retry_429_max_wait_s": "--retry-429-max-wait",
    "target.engine": "--engine",
    "workload.force_length": "--force-length",
    "target.server_metrics_url": "--server-metrics",
    "monitor.server_metrics_interval_s": "--server-metrics-interval",
    "monitor.processes": "--monitors/--no-monitors",
}


def _parse_headers(values: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for value in values:
        name, sep, content = value.partition(":")
        if not sep or not name.strip():
            raise ConfigError(f"{value!r} is not 'Name: value'", where="--header")
        headers[name.strip()] = content.strip()
    return headers


def _parse_extra_body(value: str | None) -> dict[str, Any]:
    if not value:
        return {}
    try:
        body = json.loads(value)
    except ValueError as exc:
        raise ConfigError(
            f"not valid JSON ({exc})", where="--extra-body", hint="e.g. '{\"ignore_eos\": true}'"
        ) from exc
    if not isinstance(body, dict):
        raise ConfigError("must be a JSON object", where="--extra-body")
    return body


def _api_key(env_name: str | None, where: str = "--api-key-env") -> str | None:
    """The key from the named variable; the default variable may be absent (local servers)."""
    name = env_name or "OPENAI_API_KEY"
    key = os.environ.get(name)
    if env_name and not key:
        raise ConfigError(
            f"environment variable {env_name} is not set or empty",
            where=where,
            hint=f"export {env_name}=... or drop --api-key-env",
        )
    return key or None


def _int_list(value: str, flag: str, example: str) -> list[int]:
    try:
        values = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values:
        raise typer.BadParameter(
            f"{value!r} is not a number or a list like {example}", param_hint=f"'{flag}'"
        )
    return values


def _concurrency_fields(value: str, profile: str) -> dict[str, Any]:
    """`8` → concurrency 8; `1,2,4` → the concurrency-sweep list."""
    values = _int_list(value, "--concurrency", "1,2,4")
    if profile == "concurrency-sweep":
        return {"concurrencies": tuple(values)}
    if len(values) > 1:
        return {"concurrencies": tuple(values)}  # refused by the spec with a clear message
    return {"concurrency": values[0]}


def _input_fields(value: str, profile: str) -> dict[str, Any]:
    """`512` → input_tokens 512; `128,512,2048` → the input-sweep lengths (first as default)."""
    values = _int_list(value, "--input-tokens", "128,512,2048")
    if profile == "input-sweep" or len(values) > 1:  # a list elsewhere: refused by the spec
        return {"input_tokens": values[0], "input_lengths": tuple(values)}
    return {"input_tokens": values[0]}


def _mix(value: str | None, flag: str) -> tuple[tuple[int, float], ...] | None:
    if value is None:
        return None
    try:
        return parse_mix(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=f"'{flag}'") from None


def _default_requests(profile: str, requests: int | None, duration: float | None) -> int | None:
    """100 requests unless a bound is given; a replay runs its whole trace by default."""
    if requests is not None or duration is not None or profile == "replay":
        return requests
    return 100


def run(
    ctx: typer.Context,
    spec: Annotated[
        Path | None,
        typer.Option(help="run-spec YAML/JSON file; typed flags override it (docs/spec-files.md)"),
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible server; default: the embedded simulator")
    ] = None,
    model: Annotated[str | None, typer.Option(help="default: the first of /v1/models")] = None,
    api_key_env: Annotated[
        str | None, typer.Option(help="variable holding the API key [default: OPENAI_API_KEY]")
    ] = None,
    endpoint: Annotated[Literal["chat", "completions"], typer.Option()] = "chat",
    profile: Annotated[Profile, typer.Option(help="load profile (see README)")] = "concurrency",
    concurrency: Annotated[
        str, typer.Option(help="parallel streams (closed loop); concurrency-sweep: 1,2,4,...")
    ] = "1",
    rate: Annotated[
        float | None, typer.Option(help="requests/s (constant, poisson, gamma; ramp: the end)")
    ] = None,
    ramp_start_rate: Annotated[float, typer.Option(help="ramp: requests/s at the start")] = 0.0,
    burstiness: Annotated[
        float, typer.Option(help="gamma shape: 1 Poisson, <1 burstier, >1 more regular")
    ] = 1.0,
    max_concurrency: Annotated[
        int | None, typer.Option(help="open loop: cap on requests in flight (late sends counted)")
    ] = None,
    trace: Annotated[Path | None, typer.Option(help="replay: Mooncake-style JSONL trace")] = None,
    time_scale: Annotated[
        float, typer.Option(help="replay: multiply the trace's gaps (0.5 = twice as fast)")
    ] = 1.0,
    sweep_steps: Annotated[int, typer.Option(help="sweep: rates between sync and max")] = 5,
    search: Annotated[
        Literal["rate", "concurrency"], typer.Option(help="slo-search: what to search over")
    ] = "rate",
    slo: Annotated[
        str | None, typer.Option(help="objectives, e.g. ttft_ms:500,tpot_ms:50,e2e_ms:10000")
    ] = None,
    slo_attainment: Annotated[
        float, typer.Option(help="fraction of requests that must meet --slo")
    ] = 0.95,
    repeat: Annotated[int, typer.Option(help="run the same seeded workload K times")] = 1,
    cooldown: Annotated[float, typer.Option(help="seconds between repeats / steps")] = 0.0,
    requests: Annotated[int | None, typer.Option(help="measured requests (after warm-up)")] = None,
    duration: Annotated[float | None, typer.Option(help="seconds of measured load")] = None,
    warmup: Annotated[int, typer.Option(help="warm-up requests, kept but not in statistics")] = 0,
    workers: Annotated[
        int | None,
        typer.Option(help="client processes [default: from the free CPUs and the load]"),
    ] = None,
    input_tokens: Annotated[
        str, typer.Option(help="prompt tokens; input-sweep: 128,512,2048,...")
    ] = "128",
    prefix_tokens: Annotated[
        int, typer.Option(help="leading prompt tokens shared by every request (prefix cache)")
    ] = 0,
    output_tokens: Annotated[int, typer.Option()] = 64,
    input_tokens_stddev: Annotated[
        float, typer.Option(help="per-request prompt lengths: normal, this sd (clipped >= 1)")
    ] = 0.0,
    output_tokens_stddev: Annotated[
        float, typer.Option(help="per-request output lengths: normal, this sd (clipped >= 1)")
    ] = 0.0,
    input_mix: Annotated[
        str | None, typer.Option(help="prompt lengths drawn from a mix, e.g. 128:0.9,4096:0.1")
    ] = None,
    output_mix: Annotated[
        str | None, typer.Option(help="output lengths drawn from a mix, e.g. 16:0.5,256:0.5")
    ] = None,
    output_dir: Annotated[
        Path | None, typer.Option(help="default: results/<timestamp>-<target>")
    ] = None,
    seed: Annotated[int, typer.Option(help="seeds the workload and the statistics")] = 0,
    request_timeout: Annotated[float, typer.Option(help="seconds per request")] = 600.0,
    header: Annotated[
        list[str] | None, typer.Option(help="extra header 'Name: value' (repeatable)")
    ] = None,
    extra_body: Annotated[
        str | None, typer.Option(help="extra JSON body fields, e.g. '{\"ignore_eos\": true}'")
    ] = None,
    no_stream: Annotated[bool, typer.Option("--no-stream", help="non-streaming requests")] = False,
    tokenizer: Annotated[
        str | None, typer.Option(help="count output tokens client-side: whitespace | hf:PATH")
    ] = None,
    connection_limit: Annotated[
        int | None, typer.Option(help="HTTP connections; default: the concurrency")
    ] = None,
    name: Annotated[str | None, typer.Option(help="target name in results")] = None,
    sim_ttft_ms: Annotated[
        float, typer.Option(help="embedded simulator: time to first token")
    ] = 200.0,
    sim_itl_ms: Annotated[
        float, typer.Option(help="embedded simulator: inter-token latency")
    ] = 20.0,
    sim_jitter_ms: Annotated[
        float, typer.Option(help="embedded simulator: per-token jitter (sd)")
    ] = 0.0,
    sim_tokens_per_chunk: Annotated[
        int, typer.Option(help="embedded simulator: tokens per chunk")
    ] = 1,
    sim_preset: Annotated[
        str | None,
        typer.Option(help="embedded simulator: a serving-engine twin preset (sim presets)"),
    ] = None,
    retry_429: Annotated[
        bool, typer.Option("--retry-429", help="resend after HTTP 429, honouring Retry-After")
    ] = False,
    retry_429_attempts: Annotated[int, typer.Option(help="with --retry-429: attempts in all")] = 3,
    retry_429_max_wait: Annotated[
        float, typer.Option(help="with --retry-429: seconds; a longer Retry-After is not retried")
    ] = 30.0,
    engine: Annotated[
        EngineName | None, typer.Option(help="the serving engine; default: detected when needed")
    ] = None,
    force_length: Annotated[
        bool, typer.Option(help="send the engine's fields that force --output-tokens exactly")
    ] = False,
    server_metrics: Annotated[
        str | None,
        typer.Option(
            help="Prometheus URL scraped during the run, or 'off'; default: "
            "<base-url root>/metrics when it answers"
        ),
    ] = None,
    server_metrics_interval: Annotated[
        float, typer.Option(help="seconds between server-metrics scrapes")
    ] = 1.0,
    monitors: Annotated[
        bool, typer.Option(help="sample client, target, host and GPU CPU/memory")
    ] = True,
) -> None:
    """Run a load against an OpenAI-compatible endpoint (default: the embedded simulator)."""
    sources = SpecSources.gather(ctx, spec, os.environ)
    if sources.layered and "profile" not in sources.passed:
        profile = sources.base_value(("load", "profile"), profile)
    fields: dict[str, Any] = {
        "name": name,
        "target": {
            "base_url": base_url,
            "model": model,
            "endpoint": endpoint,
            "api_key_env": api_key_env or "OPENAI_API_KEY",
            "extra_headers": _parse_headers(header or []),
            "extra_body": _parse_extra_body(extra_body),
            "stream": not no_stream,
            "request_timeout_s": request_timeout,
            "connection_limit": connection_limit,
            "retry_429": retry_429,
            "retry_429_attempts": retry_429_attempts,
            "retry_429_max_wait_s": retry_429_max_wait,
            "engine": engine,
            "server_metrics_url": server_metrics,
        },
        "monitor": {"server_metrics_interval_s": server_metrics_interval, "processes": monitors},
        "workload": {
            **_input_fields(input_tokens, profile),
            "output_tokens": output_tokens,
            "prefix_tokens": prefix_tokens,
            "seed": seed,
            "input_tokens_stddev": input_tokens_stddev,
            "output_tokens_stddev": output_tokens_stddev,
            "input_mix": _mix(input_mix, "--input-mix"),
            "output_mix": _mix(output_mix, "--output-mix"),
            "force_length": force_length,
        },
        "load": {
            "profile": profile,
            **_concurrency_fields(concurrency, profile),
            "rate": rate,
            "ramp_start_rate": ramp_start_rate,
            "burstiness": burstiness,
            "max_concurrency": max_concurrency,
            "trace": None if trace is None else str(trace),
            "trace_time_scale": time_scale,
            "sweep_rates": sweep_steps,
            "search": search,
            "requests": _default_requests(profile, requests, duration),
            "duration_s": duration,
            "warmup": warmup,
            "repeat": repeat,
            "cooldown_s": cooldown,
            "workers": workers,
        },
        "slo": None if slo is None else parse_slo(slo, slo_attainment),
        "sim": {
            "ttft_ms": sim_ttft_ms,
            "itl_ms": sim_itl_ms,
            "jitter_ms": sim_jitter_ms,
            "tokens_per_chunk": sim_tokens_per_chunk,
            "preset": sim_preset,
        },
        "tokenizer": tokenizer,
        "seed": seed,
    }
    if sources.layered:
        resolved = sources.resolve(fields, ctx.params, FLAGS)
    else:  # flags alone: every flag's value, defaults included
        try:
            resolved = RunSpec.model_validate(fields)
        except ValidationError as exc:
            raise config_error(exc, FLAGS) from None
    if resolved.tokenizer:
        load_tokenizer(resolved.tokenizer)  # fail on a bad tokenizer before starting anything
    from llmbench.cli.execution import execute

    named = api_key_env or sources.base_value(("target", "api_key_env"), None)
    key_env = resolved.target.api_key_env if named else None  # a named variable must be set
    where = sources.where(("target", "api_key_env")) if sources.layered else "--api-key-env"
    execute(resolved, output_dir, _api_key(key_env, where), sources.provenance())


def demo(
    output_dir: Annotated[
        Path | None, typer.Option(help="default: results/<timestamp>-sim")
    ] = None,
) -> None:
    """Run the study against the embedded simulated target: no GPU, no keys."""
    spec = RunSpec(
        name="sim",
        load=LoadSpec(concurrency=8, requests=64, warmup=8),
        workload=WorkloadSpec(input_tokens=128, output_tokens=64),
        tokenizer="whitespace",
    )
    from llmbench.cli.execution import execute, stderr

    stderr.print("llmbench demo: embedded simulated target (TTFT 200 ms, ITL 20 ms), 8 streams")
    execute(spec, output_dir, api_key=None)


def report(
    directory: Annotated[Path, typer.Argument(help="a results directory")],
    view: Annotated[
        Literal["summary", "3sigma"], typer.Option(help="3sigma: what the 3σ rule would drop")
    ] = "summary",
) -> None:
    """Re-render a run's summary from its results directory."""
    from llmbench.cli.execution import show_report

    show_report(directory, view)
