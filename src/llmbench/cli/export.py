"""`llmbench export`: results or study directories as a table of runs, requests or tasks (CSV,
JSON Lines, Parquet), or as OpenTelemetry GenAI spans in OTLP JSON; docs/exports.md.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from llmbench.errors import ConfigError

_FORMAT = Literal["csv", "parquet", "jsonl", "otel"]
_WHAT = Literal["runs", "requests", "tasks"]


def export(
    directories: Annotated[
        list[Path], typer.Argument(help="results directories or study directories")
    ],
    format_: Annotated[_FORMAT, typer.Option("--format", help="csv | parquet | jsonl | otel")],
    out: Annotated[Path, typer.Option("--out", help="the file to write (replaced if it exists)")],
    what: Annotated[
        _WHAT | None,
        typer.Option(help="runs | requests | tasks (tables; default requests); not with otel"),
    ] = None,
) -> None:
    """Export runs as a table (one row per run, request or task) or as OTLP JSON spans."""
    from llmbench.export.sources import run_sources

    if format_ == "otel" and what is not None:
        raise ConfigError(
            "--what chooses a table; --format otel writes every request and task as spans",
            where="--what",
            hint="leave out --what with --format otel",
        )
    if out.is_dir():
        raise ConfigError(f"{out} is a directory", where="--out", hint="name a file")
    sources = run_sources(directories)
    if format_ == "otel":
        from llmbench.export.otlp_file import write_otlp

        count, unit = write_otlp(out, sources), "spans"
    else:
        from llmbench.export.rows import COLUMNS, table_rows
        from llmbench.export.tables import write_table

        table = what or "requests"
        count, unit = write_table(out, format_, COLUMNS[table], table_rows(table, sources)), "rows"
    for source in sources:
        for warning in source.warnings:
            print(f"llmbench: warning: {warning}", file=sys.stderr)
    print(f"wrote {count} {unit} from {len(sources)} run(s) to {out}")
