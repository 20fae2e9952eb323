"""`llmbench sim ...`: the embedded simulated target as a command (the only importer of sim)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Literal

import typer

from llmbench.errors import ConfigError

app = typer.Typer(help="The embedded simulated target.", no_args_is_help=True)

PresetOpt = Annotated[
    str | None,
    typer.Option(help="serving-engine twin preset: deterministic, self-hosted-cold, cloud-warm"),
]
PresetFileOpt = Annotated[
    Path | None, typer.Option(help="a preset file (JSON, or TOML by .toml); overrides --preset")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="override one preset field: section.field=value (repeatable)"),
]

EngineSetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="the measured engine's settings, e.g. engine.max_seqs=64"),
]


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
    preset: PresetOpt = None,
    preset_file: PresetFileOpt = None,
    set_: SetOpt = None,
) -> None:
    """Serve the OpenAI-compatible simulated target; prints its URL once it accepts connections.

    With --preset/--preset-file the serving-engine twin times the responses (wall clock).
    """
    if ttft_ms < 0 or itl_ms < 0 or jitter_ms < 0:
        raise ConfigError("times must be >= 0", where="--ttft-ms/--itl-ms/--jitter-ms")
    if tokens_per_chunk < 1:
        raise ConfigError("must be >= 1", where="--tokens-per-chunk")
    from llmbench.sim.server.config import SimConfig
    from llmbench.sim.server.faults import FaultError, parse_fault_rates

    try:
        fault_rates = parse_fault_rates(fault_rate or "")
    except FaultError as exc:
        raise ConfigError(str(exc), where="--fault-rate") from None
    if log_capacity < 1:
        raise ConfigError("must be >= 1", where="--log-capacity")
    from llmbench.sim.server.app import serve as serve_app

    twin = None
    if preset is not None or preset_file is not None or set_:
        from llmbench.prediction.predict import resolve_preset

        twin = resolve_preset(preset, preset_file, set_ or [])
    if twin is not None and twin.timing == "fixed":  # deterministic: the exact foundation path
        ttft_ms, itl_ms, twin = twin.fixed.ttft_s * 1000, twin.fixed.itl_s * 1000, None
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
        twin=twin,
    )

    serve_app(host, port, config, on_listening=_announce)


def _announce(bound_host: str, bound_port: int) -> None:
    print(f"llmbench-sim listening on http://{bound_host}:{bound_port}", flush=True)


@app.command()
def presets(
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of text")] = False,
    preset_file: Annotated[
        Path | None,
        typer.Option(help="show this preset file instead (and what it was fitted on)"),
    ] = None,
) -> None:
    """List the serving-engine twin's presets with all their parameters."""
    from llmbench.prediction.predict import presets_text

    if preset_file is None:
        print(presets_text(as_json))
        return
    from llmbench.prediction.predict import preset_file_text

    text, document = preset_file_text(preset_file, as_json)
    print(text)
    if not as_json and document.get("fitted"):
        from rich.console import Console

        from llmbench.report.calibration import calibration_report

        Console(width=None if os.isatty(1) else 160).print(calibration_report(document))


@app.command()
def predict(
    rate: Annotated[float, typer.Option(help="Poisson arrivals per second", min=0.0)],
    duration: Annotated[float, typer.Option(help="seconds of load (virtual)", min=0.0)],
    input_tokens: Annotated[int, typer.Option(help="prompt tokens per request", min=1)] = 512,
    output_tokens: Annotated[int, typer.Option(help="output tokens per request", min=1)] = 128,
    replicas: Annotated[int, typer.Option(help="engines behind one load balancer", min=1)] = 1,
    routing: Annotated[
        Literal["round-robin", "least-loaded"], typer.Option(help="how requests pick a replica")
    ] = "round-robin",
    seed: Annotated[int, typer.Option(help="seeds arrivals, noise and statistics")] = 0,
    turns: Annotated[
        int, typer.Option(help="turns per session: each arrival starts a session (1: none)", min=1)
    ] = 1,
    think_time_s: Annotated[
        float, typer.Option(help="seconds between an answer and the next turn", min=0.0)
    ] = 5.0,
    preset: PresetOpt = "cloud-warm",
    preset_file: PresetFileOpt = None,
    set_: SetOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="the run.json-shaped summary")] = False,
) -> None:
    """Predict a load offline on a virtual clock: the measured run's summary, without a server."""
    if rate <= 0 or duration <= 0:
        raise ConfigError("must be > 0", where="--rate/--duration")
    from llmbench.prediction.predict import render, resolve_preset, run_predict

    twin = resolve_preset(preset, preset_file, set_ or [])
    run = run_predict(
        twin,
        rate=rate,
        duration_s=duration,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        replicas=replicas,
        seed=seed,
        routing=routing,
        turns=turns,
        think_time_s=think_time_s,
    )
    if as_json:
        print(json.dumps(run, indent=2))
        return
    from rich.console import Console

    console = Console(width=None if os.isatty(1) else 140)
    console.print(render(run))
    facts = run["prediction"]
    console.print(
        f"predicted offline in {facts['wall_s']:.2f} s: {facts['steps']} engine steps, "
        f"{facts['preemptions']} preemptions, {facts['cold_starts']} cold starts"
    )
    if "sessions" in facts:
        from llmbench.prediction.predict import sessions_text

        console.print(sessions_text(facts["sessions"]))


@app.command()
def calibrate(
    run_dirs: Annotated[
        list[Path], typer.Argument(help="results directories of measured runs, or study dirs")
    ],
    out: Annotated[Path, typer.Option(help="the preset file to write (JSON)")],
    preset: Annotated[
        str, typer.Option(help="the preset whose model shape and hardware peaks are kept")
    ] = "cloud-warm",
    preset_file: PresetFileOpt = None,
    set_: EngineSetOpt = None,
    shape: Annotated[
        Literal["known", "unknown"],
        typer.Option(help="unknown: fit polynomial step times instead of the roofline"),
    ] = "known",
    validate: Annotated[
        list[Path] | None,
        typer.Option(help="measured runs (or study dirs) to predict and compare (repeatable)"),
    ] = None,
    capacity: Annotated[
        float | None,
        typer.Option(help="requests/s of full load [default: the best run's throughput]"),
    ] = None,
    engine_name: Annotated[str | None, typer.Option(help="provenance: the serving engine")] = None,
    engine_version: Annotated[str | None, typer.Option(help="provenance: its version")] = None,
    gpu: Annotated[str | None, typer.Option(help="provenance: the accelerator")] = None,
) -> None:
    """Fit a preset to measured runs (an input-length sweep at concurrency 1 and a concurrency
    sweep): NNLS on the roofline terms, or polynomial step times with --shape unknown; write a
    preset file with what it was fitted on, its fit error and validation error per load level."""
    from rich.console import Console

    from llmbench.prediction.calibrate import Provenance
    from llmbench.prediction.calibrate import calibrate as run_calibration
    from llmbench.prediction.predict import resolve_preset
    from llmbench.report.calibration import calibration_report

    if capacity is not None and capacity <= 0:
        raise ConfigError("must be > 0 requests/s", where="--capacity")
    base = resolve_preset(preset, preset_file, set_ or [])
    unknown = shape == "unknown" or base.timing != "roofline"
    document = run_calibration(
        run_dirs,
        base,
        out,
        shape="polynomial" if unknown else "roofline",
        provenance=Provenance(engine_name, engine_version, gpu),
        validate=validate,
        capacity_per_s=capacity,
    )
    console = Console(width=None if os.isatty(1) else 160)
    console.print(f"wrote {out}")
    console.print(calibration_report(document))
