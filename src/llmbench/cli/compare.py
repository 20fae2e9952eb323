"""`llmbench compare`: results or study directories compared metric by metric (ratios with
bootstrap CIs, Holm-adjusted p-values, verdicts and one sentence per row); docs/comparison.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from llmbench.errors import ConfigError

_FORMAT = Literal["terminal", "md", "json"]


def _metrics(text: str | None) -> list[str] | None:
    if text is None:
        return None
    from llmbench.report.comparison import METRICS

    names = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise ConfigError(
            f"unknown metric(s) {', '.join(unknown) or '(none given)'}",
            where="--metrics",
            hint=f"choose from {', '.join(METRICS)}",
        )
    return names


def _band(value: float) -> float:
    if not 0 < value < 1:
        raise ConfigError(
            f"{value:g} is not a fraction between 0 and 1",
            where="--equivalence",
            hint="e.g. 0.03 for ±3 %",
        )
    return value


def compare(
    directories: Annotated[
        list[Path], typer.Argument(help="results directories or study directories")
    ],
    baseline: Annotated[
        str | None,
        typer.Option(help="the baseline run: directory name, run id, target id or --name"),
    ] = None,
    metrics: Annotated[
        str | None,
        typer.Option(help="comma-separated, e.g. ttft_ms,e2e_ms; default: all the runs have"),
    ] = None,
    equivalence: Annotated[
        float, typer.Option(help="band of 'no meaningful difference': 0.03 = ±3 %")
    ] = 0.03,
    force: Annotated[
        bool, typer.Option("--force", help="compare runs whose workloads differ (listed)")
    ] = False,
    trim_warmup: Annotated[
        bool, typer.Option("--trim-warmup", help="leave out requests MSER-5 marks as warm-up")
    ] = False,
    seed: Annotated[int, typer.Option(help="seeds the bootstrap")] = 0,
    format_: Annotated[_FORMAT, typer.Option("--format", help="terminal | md | json")] = "terminal",
) -> None:
    """Compare runs: candidate vs baseline per metric, with CIs and a verdict per row."""
    names = _metrics(metrics)
    band = _band(equivalence)
    from llmbench.report.comparison import compare_runs, pair_runs, run_directories
    from llmbench.report.comparison_view import (
        comparison_markdown,
        comparison_table,
        comparisons_json,
    )

    pairs = pair_runs(run_directories(directories), baseline)
    results = [
        compare_runs(b, c, metrics=names, seed=seed, band=band, force=force,
                     trim_warmup=trim_warmup)
        for b, c in pairs
    ]  # fmt: skip
    if format_ == "json":
        print(json.dumps(comparisons_json(results), indent=2))
    elif format_ == "md":
        print(comparison_markdown(results))
    else:
        from rich.console import Console

        console = Console(width=None if sys.stdout.isatty() else 160)
        for result in results:
            console.print(comparison_table(result))
