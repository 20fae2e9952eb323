"""`llmbench compare`: results or study directories compared metric by metric (ratios with
bootstrap CIs, Holm-adjusted p-values, verdicts and one sentence per row); docs/comparison.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from llmbench.cli.history import StoreOption, run_directory
from llmbench.errors import ConfigError

if TYPE_CHECKING:
    from llmbench.report.comparison import ComparedDirs

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


def _show(compared: ComparedDirs, format_: str) -> None:
    from llmbench.report.comparison_view import (
        comparison_markdown,
        comparison_table,
        comparisons_json,
        skipped_line,
    )

    results, skipped = compared.results, compared.skipped
    if format_ == "json":
        print(json.dumps(comparisons_json(results, skipped), indent=2))
    elif format_ == "md":
        print(comparison_markdown(results, skipped))
    else:
        from rich.console import Console
        from rich.text import Text

        console = Console(width=None if sys.stdout.isatty() else 160)
        for result in results:
            console.print(comparison_table(result))
        for note in skipped:
            console.print(Text("note: " + skipped_line(note), style="dim"))


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
    statistic: Annotated[
        Literal["p50", "p95", "p99"],
        typer.Option(help="the ratio each row's verdict and sentence read"),
    ] = "p50",
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
    from llmbench.report.comparison import compare_dirs

    compared = compare_dirs(
        directories, baseline=baseline, metrics=names, seed=seed, band=band, force=force,
        trim_warmup=trim_warmup, primary=statistic,
    )  # fmt: skip
    _show(compared, format_)


# `llmbench gate` exit codes (docs/comparison.md): distinct, so a pipeline can tell them apart.
GATE_EXIT = {"pass": 0, "regression": 1, "inconclusive": 3}
GATE_CANNOT_COMPARE_EXIT = 4  # the runs could not be read or compared (2: bad flags)


def _fraction(text: str) -> float:
    """'10%' → 0.10: a percent sign is required, so 0.1 and 10 cannot be confused."""
    value = text.strip()
    try:
        if not value.endswith("%"):
            raise ValueError
        fraction = float(value[:-1]) / 100
    except ValueError:
        raise ConfigError(
            f"{text!r} is not a percentage", where="--max-regression", hint="e.g. 10%"
        ) from None
    if not 0 < fraction < 10:
        raise ConfigError(
            f"{text} is out of range", where="--max-regression", hint="between 0% and 1000%"
        )
    return fraction


def gate(
    baseline: Annotated[
        str, typer.Option(help="the baseline run: results directory, or a stored run's id or label")
    ],
    candidate: Annotated[str, typer.Option(help="the candidate run: as --baseline")],
    metric: Annotated[str, typer.Option(help="METRIC.STATISTIC, e.g. ttft_ms.p95")],
    max_regression: Annotated[
        str, typer.Option(help="allowed regression of the statistic, e.g. 10%")
    ],
    min_requests: Annotated[
        int, typer.Option(help="fewer ok requests on either side: inconclusive")
    ] = 20,
    force: Annotated[
        bool, typer.Option("--force", help="gate runs whose workloads differ (listed)")
    ] = False,
    seed: Annotated[int, typer.Option(help="seeds the bootstrap")] = 0,
    format_: Annotated[Literal["terminal", "json"], typer.Option("--format")] = "terminal",
    store: StoreOption = None,
) -> None:
    """Fail a pipeline on a regression the data supports. Exit 0 pass, 1 regression,
    3 inconclusive, 4 runs not comparable, 2 bad flags."""
    fraction = _fraction(max_regression)
    from llmbench.errors import LlmbenchError
    from llmbench.report.gate import gate_runs, parse_metric

    parse_metric(metric)  # a bad flag is a usage error (2), before reading anything
    if min_requests < 2:
        raise ConfigError("must be at least 2", where="--min-requests", hint="e.g. 20")
    try:
        base, cand = run_directory(baseline, store), run_directory(candidate, store)
        result = gate_runs(base, cand, metric, fraction, min_n=min_requests, seed=seed, force=force)
    except ConfigError:
        raise
    except LlmbenchError as exc:
        print(f"llmbench: error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"llmbench: fix: {exc.hint}", file=sys.stderr)
        raise SystemExit(GATE_CANNOT_COMPARE_EXIT) from None
    if format_ == "json":
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(result.row.sentence)
        for note in result.notes:
            print(f"note: {note}")
        print(result.line)
    raise SystemExit(GATE_EXIT[result.outcome.value])
