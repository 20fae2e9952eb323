"""`llmbench sim ...`: the embedded simulated target as a command (the only importer of sim)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from llmbench.errors import ConfigError

app = typer.Typer(help="The embedded simulated target.", no_args_is_help=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="0 picks a free port")] = 8000,
    ttft_ms: Annotated[float, typer.Option(help="time to first token")] = 200.0,
    itl_ms: Annotated[float, typer.Option(help="time between tokens")] = 20.0,
    jitter_ms: Annotated[float, typer.Option(help="normal noise (sd) on each gap")] = 0.0,
    tokens_per_chunk: Annotated[int, typer.Option(help="tokens per streamed chunk")] = 1,
    seed: Annotated[int, typer.Option(help="seeds the jitter")] = 1,
    model: Annotated[str, typer.Option(help="the one model id served")] = "llmbench-sim",
    api_key_env: Annotated[
        str | None, typer.Option(help="require the key in this variable")
    ] = None,
    fault_rate: Annotated[
        str | None,
        typer.Option(help="inject faults at rates, e.g. '429:0.1,500:0.05,cut_after:3:0.02'"),
    ] = None,
    fault_seed: Annotated[int, typer.Option(help="seeds the fault draws")] = 1,
    log_capacity: Annotated[int, typer.Option(help="requests kept in the emission log")] = 100_000,
) -> None:
    """Serve the OpenAI-compatible simulated target; prints its URL once it accepts connections."""
    if ttft_ms < 0 or itl_ms < 0 or jitter_ms < 0:
        raise ConfigError("times must be >= 0", where="--ttft-ms/--itl-ms/--jitter-ms")
    if tokens_per_chunk < 1:
        raise ConfigError("must be >= 1", where="--tokens-per-chunk")
    from llmbench.sim.config import SimConfig
    from llmbench.sim.faults import FaultError, parse_fault_rates

    try:
        fault_rates = parse_fault_rates(fault_rate or "")
    except FaultError as exc:
        raise ConfigError(str(exc), where="--fault-rate") from None
    if log_capacity < 1:
        raise ConfigError("must be >= 1", where="--log-capacity")
    from llmbench.sim.server import serve as serve_app

    api_key = os.environ.get(api_key_env) if api_key_env else None
    if api_key_env and not api_key:
        raise ConfigError(f"environment variable {api_key_env} is not set", where="--api-key-env")
    config = SimConfig(
        ttft_ms=ttft_ms,
        itl_ms=itl_ms,
        jitter_ms=jitter_ms,
        seed=seed,
        tokens_per_chunk=tokens_per_chunk,
        model=model,
        api_key=api_key,
        log_capacity=log_capacity,
        fault_rates=fault_rates,
        fault_seed=fault_seed,
    )

    def announce(bound_host: str, bound_port: int) -> None:
        print(f"llmbench-sim listening on http://{bound_host}:{bound_port}", flush=True)

    serve_app(host, port, config, on_listening=announce)
