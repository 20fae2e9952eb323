"""`llmbench run`, `study`, `demo` and `report`: flags or a spec file → runs → terminal summary."""

from __future__ import annotations

import inspect
import os
import re
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from llmbench.cli.flags import FLAG_OF_PATH, output_dir_param, with_run_flags
from llmbench.cli.history import LabelOption, StoreOption, checked_store, record_run
from llmbench.cli.sources import SpecSources
from llmbench.config import RunSpec
from llmbench.config.load import MAX_WORKERS
from llmbench.config.ray import RaySettings
from llmbench.config.run import DEFAULT_KEY_ENV
from llmbench.errors import ConfigError

# Commands import the machinery (aiohttp, numpy, scipy, rich) only when they run, so that
# `llmbench --help` and flag errors answer at once.

_FIELD = re.compile(r"(?<!--set )\b((?:target|workload|load|study|sim|slo)\.[a-z_]+)\b(?! \(--)")


def _api_key(
    env_name: str | None, where: str = "--api-key-env", default: str | None = "OPENAI_API_KEY"
) -> str | None:
    """The key from the named variable; the default variable (the target kind's) may be absent
    (local servers)."""
    name = env_name or default
    if name is None:
        return None
    key = os.environ.get(name)
    if env_name and not key:
        raise ConfigError(
            f"environment variable {env_name} is not set or empty",
            where=where,
            hint=f"export {env_name}=... or drop --api-key-env",
        )
    return key or None


def _with_flags(error: ConfigError) -> ConfigError:
    """Names the flag beside each field a message mentions: `load.rate (--rate)`."""

    def line_with_flags(line: str) -> str:
        def name(match: re.Match[str]) -> str:
            flag = FLAG_OF_PATH.get(match.group(1))
            named = flag is None or line.lstrip().startswith((f"{flag}:", "--set "))
            return match.group(1) if named else f"{match.group(1)} ({flag})"

        return _FIELD.sub(name, line)

    lines = error.message.split("\n")
    return ConfigError("\n".join(map(line_with_flags, lines)), hint=error.hint)


def resolve_run_spec(
    ctx: typer.Context, spec_file: Path | None, assignments: list[str], flags: dict[str, Any]
) -> tuple[RunSpec, SpecSources]:
    """Defaults < spec file < LLMBENCH_* environment < typed flags < --set, validated once."""
    sources = SpecSources.gather(ctx, spec_file, os.environ)
    typed = {p: v for p, v in flags.items() if p in sources.passed}
    try:
        return sources.resolve(typed, assignments), sources
    except ConfigError as exc:
        raise _with_flags(exc) from None


_SPEC_OPT = typer.Option(
    help="run-spec YAML/JSON file; typed flags override it (docs/spec-files.md)", metavar="FILE"
)
_SET_OPT = typer.Option(
    "--set",
    help="set any spec field: section.field=value, e.g. load.rate=5 (repeatable; after flags)",
    metavar="PATH=VALUE",
)
_RUN_PARAMS = [
    inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
    inspect.Parameter("spec", inspect.Parameter.KEYWORD_ONLY, default=None,
                      annotation=Annotated[Path | None, _SPEC_OPT]),
    inspect.Parameter("set_", inspect.Parameter.KEYWORD_ONLY, default=None,
                      annotation=Annotated[list[str] | None, _SET_OPT]),
    output_dir_param(),
    inspect.Parameter("store", inspect.Parameter.KEYWORD_ONLY, default=None,
                      annotation=StoreOption),
    inspect.Parameter("label", inspect.Parameter.KEYWORD_ONLY, default=None,
                      annotation=LabelOption),
]  # fmt: skip


@with_run_flags(_RUN_PARAMS)
def run(
    ctx: typer.Context,
    *,
    spec: Path | None = None,
    set_: list[str] | None = None,
    output_dir: Path | None = None,
    store: str | None = None,
    label: list[str] | None = None,
    **flags: Any,
) -> None:
    """Run a load against an OpenAI-compatible endpoint (default: the embedded simulator)."""
    resolved, sources = resolve_run_spec(ctx, spec, set_ or [], flags)
    if resolved.tokenizer:  # fail on a bad tokenizer before starting anything
        from llmbench.clients.tokens import load_tokenizer  # aiohttp with it: only to run

        load_tokenizer(resolved.tokenizer)
    from llmbench.cli.execution import execute
    from llmbench.run.workers.child import check_target_kind

    check_target_kind(resolved)  # before the embedded simulator starts
    named = "api_key_env" in sources.passed or sources.base_value(("target", "api_key_env"), None)
    key_env = resolved.target.api_key_env if named else None  # a named variable must be set
    where = sources.where(("target", "api_key_env"))
    default = DEFAULT_KEY_ENV.get(resolved.target.kind)
    if resolved.target.kind == "task-api":  # the variable its YAML names (auth.key_env)
        from llmbench.run.taskapi import task_api_spec

        default = task_api_spec(resolved).auth.key_env
    store = checked_store(store)  # a bad store URL is refused before the run
    recorder = None if store is None else partial(record_run, store, label)
    execute(resolved, output_dir, _api_key(key_env, where, default), sources.provenance(),
            recorder)  # fmt: skip


def demo(
    output_dir: Annotated[
        Path | None, typer.Option(help="default: results/<timestamp>-study", metavar="DIR")
    ] = None,
) -> None:
    """Compare a simulated self-hosted engine with a simulated warm cloud service: the built-in
    study (baseline, concurrency, input length, rate), the seed's tables. No GPU, no keys."""
    from llmbench.cli.execution import stderr
    from llmbench.cli.study import demo_spec, run_study

    spec = demo_spec()
    targets = ", ".join(f"{name} (sim:{t.preset})" for name, t in spec.targets.items()
                        if t.kind == "sim")  # fmt: skip
    stderr.print(f"llmbench demo: {targets}; scenarios: {', '.join(spec.scenarios)}")
    run_study(spec, output_dir, resume=False)


def study(
    spec: Annotated[Path, typer.Argument(help="study spec YAML (docs/studies.md)", metavar="SPEC")],
    output_dir: Annotated[
        Path | None, typer.Option(help="default: results/<timestamp>-study", metavar="DIR")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="finish a stopped study in --output-dir: skip its finished runs")
    ] = False,
    store: StoreOption = None,
    label: LabelOption = None,
    ray: Annotated[
        str | None,
        typer.Option(
            help="every run's load workers on this Ray cluster (HEAD:PORT), or 'local' (one "
            "instance for the study); docs/distributed.md",
            metavar="ADDRESS|local",
        ),
    ] = None,
    ray_workers: Annotated[
        int | None,
        typer.Option(
            help="load workers (Ray actors) per run; default: each run's own choice",
            min=1,
            max=MAX_WORKERS,
        ),
    ] = None,
) -> None:
    """Compare targets across scenarios: every scenario against every target, same prompts,
    interleaved; one study directory (study.json + a run directory per run)."""
    from llmbench.cli.study import load_spec, run_study

    if resume and output_dir is None:
        raise ConfigError("--resume needs --output-dir: the study directory to finish")
    if ray_workers is not None and ray is None:
        raise ConfigError("--ray-workers needs --ray: the cluster to place them on")
    if ray is not None and not ray.strip():
        raise ConfigError("--ray is empty", hint="give the head's HOST:PORT, or 'local'")
    store = checked_store(store)  # a bad store URL is refused before the study
    recorder = None if store is None else partial(record_run, store, label)
    on_ray = None if ray is None else RaySettings(address=ray.strip(), workers=ray_workers)
    run_study(load_spec(spec), output_dir, resume=resume, on_done=recorder, ray=on_ray)


def report(
    directory: Annotated[Path, typer.Argument(help="a run or study results directory")],
    view: Annotated[
        Literal["summary", "3sigma"], typer.Option(help="3sigma: what the 3σ rule would drop")
    ] = "summary",
    format: Annotated[
        Literal["terminal", "md", "html", "png"],
        typer.Option(help="md: report.md, html: report.html (offline), png: report-png/"),
    ] = "terminal",
    lang: Annotated[Literal["en", "zh"], typer.Option(help="the report's words")] = "en",
    output: Annotated[
        Path | None, typer.Option(help="the file (md, html) or folder (png); default in DIR")
    ] = None,
) -> None:
    """Rebuild a run's or study's report from its results directory alone."""
    if format == "terminal":
        if output is not None:
            raise ConfigError(
                "the terminal report is printed, not written to a file",
                where="--output",
                hint="add --format md, html or png, or leave --output out",
            )
        from llmbench.cli.execution import show_report

        show_report(directory, view, lang)
        return
    from llmbench.cli.reporting import write_files

    for line in write_files(directory, format, lang, output):
        print(line)
