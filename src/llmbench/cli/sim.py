"""`llmbench sim ...`: the embedded simulated target as a command (the only importer of sim)."""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import typer
from pydantic import ValidationError

from llmbench.cli.flags import with_model_flags
from llmbench.config.paths import settings as settings_of
from llmbench.config.problems import describe_problems
from llmbench.errors import ConfigError
from llmbench.sim.server.settings import SimSettings

app = typer.Typer(help="The embedded simulated target.", no_args_is_help=True)

PresetOpt = Annotated[
    str | None,
    typer.Option(help="serving-engine twin preset: deterministic, self-hosted-cold, cloud-warm"),
]
PresetFileOpt = Annotated[
    Path | None,
    typer.Option(help="a preset file (JSON, or TOML by .toml); overrides --preset", metavar="FILE"),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="override one preset field: section.field=value (repeatable)",
        metavar="SECTION.FIELD=VALUE",
    ),
]

EngineSetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="the measured engine's settings, e.g. engine.max_seqs=64"),
]


def _kw(name: str, default: Any, kind: Any, option: Any) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[kind, option]
    )


_SERVE_PARAMS = [
    _kw("host", "127.0.0.1", str, typer.Option(help="address to bind", metavar="HOST")),
    _kw("port", 8000, int, typer.Option(help="0 picks a free port", metavar="PORT")),
    _kw("config_json", None, str | None, typer.Option(
        help="the settings as one JSON object (typed flags override it)", metavar="JSON")),
    _kw("api_key_env", None, str | None, typer.Option(
        help="require the key in this variable", metavar="NAME")),
    _kw("preset_file", None, Path | None, get_args(PresetFileOpt)[1]),
    _kw("set_", None, list[str] | None, get_args(SetOpt)[1]),
]  # fmt: skip


@app.command()
@with_model_flags(SimSettings, _SERVE_PARAMS)
def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    config_json: str | None = None,
    api_key_env: str | None = None,
    preset_file: Path | None = None,
    set_: list[str] | None = None,
    **flags: Any,
) -> None:
    """Serve the OpenAI-compatible simulated target; prints its URL once it accepts connections.

    The settings are those a run's embedded simulator has (`sim.*` of a run spec). With
    --preset/--preset-file the serving-engine twin times the responses (wall clock).
    """
    settings = _serve_settings(config_json, flags)
    from llmbench.sim.server.config import SimConfig
    from llmbench.sim.server.serving import serve as serve_app

    twin = None
    overrides = [*settings.preset_overrides, *(set_ or [])]  # --set last: it wins
    if settings.preset is not None or preset_file is not None or overrides:
        from llmbench.prediction.predict import resolve_preset

        twin = resolve_preset(settings.preset, preset_file, overrides)
    api_key = os.environ.get(api_key_env) if api_key_env else None
    if api_key_env and not api_key:
        raise ConfigError(f"environment variable {api_key_env} is not set", where="--api-key-env")
    config = SimConfig.from_settings(settings, api_key=api_key, twin=twin)
    serve_app(host, port, config, on_listening=_announce)


def _serve_settings(config_json: str | None, flags: dict[str, Any]) -> SimSettings:
    """--config-json, then the typed flags over it, validated once; problems name the flag."""
    data: dict[str, Any] = {}
    if config_json is not None:
        try:
            data = json.loads(config_json)
        except ValueError as exc:
            raise ConfigError(f"not valid JSON ({exc})", where="--config-json") from None
        if not isinstance(data, dict):
            raise ConfigError("must be a JSON object", where="--config-json")
    known = settings_of(SimSettings)
    for name, raw in flags.items():
        if raw is not None:
            data[name] = known[name].parse(raw)
    typed = {name for name, raw in flags.items() if raw is not None}

    def where(loc: tuple[str | int, ...]) -> str:
        name = str(loc[0]) if loc else ""
        return "--" + name.replace("_", "-") if name in typed else "--config-json"

    try:
        return SimSettings.model_validate(data)
    except ValidationError as exc:
        raise describe_problems(exc, where, SimSettings) from None


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
    from llmbench.prediction.predict import resolve_preset, run_predict

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
    _show_prediction(run, as_json)


def _show_prediction(run: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(run, indent=2))
        return
    from rich.console import Console

    from llmbench.prediction.predict import render, sessions_text

    console = Console(width=None if os.isatty(1) else 140)
    console.print(render(run))
    facts = run["prediction"]
    console.print(
        f"predicted offline in {facts['wall_s']:.2f} s: {facts['steps']} engine steps, "
        f"{facts['preemptions']} preemptions, {facts['cold_starts']} cold starts"
    )
    if "sessions" in facts:
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
    from llmbench.prediction.calibrate import Provenance
    from llmbench.prediction.calibrate import calibrate as run_calibration
    from llmbench.prediction.predict import resolve_preset

    if capacity is not None and capacity <= 0:
        raise ConfigError("must be > 0 requests/s", where="--capacity")
    base = resolve_preset(preset, preset_file, set_ or [])
    unknown = shape == "unknown" or base.timing != "roofline"
    document = run_calibration(
        run_dirs, base, out, shape="polynomial" if unknown else "roofline",
        provenance=Provenance(engine_name, engine_version, gpu), validate=validate,
        capacity_per_s=capacity,
    )  # fmt: skip
    _show_calibration(out, document)


def _show_calibration(out: Path, document: dict[str, Any]) -> None:
    from rich.console import Console

    from llmbench.report.calibration import calibration_report

    console = Console(width=None if os.isatty(1) else 160)
    console.print(f"wrote {out}")
    console.print(calibration_report(document))
