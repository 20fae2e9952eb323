"""`llmbench history` and `llmbench import`: the history database (docs/history.md). Which store:
`--store`, else `LLMBENCH_STORE`, else ~/.llmbench/history.db. `run` and `study` record into
it only when `--store` or `LLMBENCH_STORE` names one (`record_run`); `gate` finds runs in it.
"""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from llmbench.errors import ConfigError, StoreError

if TYPE_CHECKING:
    from llmbench.store.db.database import HistoryStore
    from llmbench.store.db.queries import StoredRun

STORE_ENV = "LLMBENCH_STORE"
STORE_HELP = "history database: a file path, sqlite:///PATH or postgresql://USER@HOST/DB"
StoreOption = Annotated[
    str | None, typer.Option("--store", help=STORE_HELP + f"; default ${STORE_ENV}", metavar="URL")
]
LabelOption = Annotated[
    list[str] | None, typer.Option("--label", help="label the run(s) (repeatable)")
]
_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def store_text(flag: str | None, *, fallback: bool) -> str | None:
    """--store, else $LLMBENCH_STORE, else (`fallback`) the default file."""
    text = flag or os.environ.get(STORE_ENV) or None
    return text if text is not None or not fallback else "default"


def checked_store(flag: str | None) -> str | None:
    """The store `run` and `study` record into (None: off), its URL checked before the run."""
    text = store_text(flag, fallback=False)
    if text is not None:
        from llmbench.store.db.database import store_url

        try:
            store_url(text)
        except StoreError as exc:  # a bad flag or variable: a usage error
            where = "--store" if flag else STORE_ENV
            raise ConfigError(exc.message, where=where, hint=exc.hint) from None
    return text


def open_store(text: str) -> HistoryStore:
    from llmbench.store.db.database import HistoryStore

    return HistoryStore.open(text)


def _labels(values: list[str] | None) -> list[str]:
    labels = [v.strip() for v in values or []]
    for label in labels:
        if not label or len(label) > 200:
            raise ConfigError(f"{label!r} is not a label", where="--label",
                              hint="1 to 200 characters, e.g. v1.4 or baseline")  # fmt: skip
    return labels


def record_run(store: str | None, labels: list[str] | None, directory: Path) -> None:
    """After `run` or `study`: the results directory into the store, when one is set."""
    if store is None:
        return
    from llmbench.store.db.ingest import import_directory

    try:
        with open_store(store) as opened:
            imported = import_directory(opened, directory, _labels(labels))
    except StoreError as exc:
        hint = f"the results are in {directory}; `llmbench import {directory}` stores them later"
        raise StoreError(exc.message, hint=hint) from exc
    runs = sum(1 for i in imported if i.kind == "run" and i.stored)
    print(f"stored {runs} run(s) in the history", file=sys.stderr)


def import_dirs(
    directories: Annotated[list[Path], typer.Argument(help="run or study results directories")],
    store: StoreOption = None,
    label: LabelOption = None,
) -> None:
    """Load results directories (made here or elsewhere) into the history database. A torn
    last records.jsonl line (a killed run) is reported and skipped; a stored run is kept."""
    from llmbench.store.db.ingest import import_directory

    labels = _labels(label)
    with open_store(store_text(store, fallback=True) or "default") as opened:
        for directory in directories:
            for item in import_directory(opened, directory, labels):
                for warning in item.warnings:
                    print(f"warning: {warning}", file=sys.stderr)
                if item.kind == "study":
                    word = "stored" if item.stored else "already stored"
                    print(f"study {item.run_id}: {word}")
                elif item.stored:
                    print(f"run {item.run_id}: {item.n_requests} requests stored")
                else:
                    print(f"run {item.run_id}: already stored, left as it is")


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`7d`, `24h`, `30m`, `2w` before now, or an ISO date/time (UTC unless it says)."""
    value = text.strip()
    match = _RELATIVE.match(value)
    if match:
        delta = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        return (now or datetime.now(UTC)) - delta
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"{text!r} is not a time", where="--since", hint="e.g. 7d, 24h or 2026-01-31T12:00"
        ) from None
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _ms(summary: dict[str, Any] | None, name: str) -> str:
    block = (summary or {}).get(name)
    value = block.get("p50") if isinstance(block, dict) else None
    return "–" if value is None else f"{value:.1f}"


def _runs_table(found: list[StoredRun]) -> Any:
    from rich.table import Table

    table = Table(title=f"{len(found)} stored run(s)", title_justify="left")
    for name in ("run", "started (UTC)", "target", "scenario", "status", "requests", "labels",
                 "TTFT P50 ms", "E2E P50 ms", "req/s"):  # fmt: skip
        right = name[0].isupper() or name == "requests"
        table.add_column(name, justify="right" if right else "left")
    for run in found:
        rate = (run.summary or {}).get("requests_per_s")
        table.add_row(
            run.run_id, f"{run.started_at:%Y-%m-%d %H:%M}", run.target, run.scenario, run.status,
            str(run.n_requests), ", ".join(run.labels), _ms(run.summary, "ttft_ms"),
            _ms(run.summary, "e2e_ms"), "–" if rate is None else f"{rate:.2f}",
        )  # fmt: skip
    return table


def _trend(found: list[StoredRun], metric: str, html: Path | None, format_: str) -> None:
    from llmbench.report.trend import TrendPoint
    from llmbench.store.db.queries import check_metric, metric_value

    summaries = [r.summary for r in found if r.summary]
    if summaries:
        check_metric(metric, summaries[-1])
    points = [
        TrendPoint(f"{r.target} / {r.scenario}", r.started_at.astimezone(UTC).isoformat(),
                   r.run_id, metric_value(r, metric))
        for r in found
    ]  # fmt: skip
    if format_ == "json":
        print(json.dumps([_point(p) for p in points], indent=2))
    else:
        _print(_trend_table(metric, points))
    if html is not None:
        _write_html(metric, points, html)


def _point(point: Any) -> dict[str, Any]:
    return {name: getattr(point, name) for name in point.__dataclass_fields__}


def _trend_table(metric: str, points: list[Any]) -> Any:
    from rich.table import Table

    table = Table(title=f"{metric} over time", title_justify="left")
    for name in ("started (UTC)", "run", "target / scenario", metric, "vs first"):
        table.add_column(name, justify="right" if name in (metric, "vs first") else "left")
    first: dict[str, float] = {}
    for p in points:
        base = first.setdefault(p.series, p.value) if p.value is not None else None
        ratio = "–" if p.value is None or not base else f"{p.value / base:.3f}×"
        value = "–" if p.value is None else f"{p.value:.3f}"
        table.add_row(p.started_at[:16].replace("T", " "), p.run_id, p.series, value, ratio)
    return table


def _write_html(metric: str, points: list[Any], path: Path) -> None:
    try:
        from llmbench.report.trend import trend_chart, trend_page

        page = trend_page(trend_chart(metric, points))
    except ModuleNotFoundError as exc:  # plotly: the `report` extra
        raise ConfigError(f"needs {exc.name}", where="--html",
                          hint="pip install 'llmbench[report]'") from None  # fmt: skip
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}", where="--html") from exc
    print(f"chart: {path}", file=sys.stderr)


def _print(renderable: Any) -> None:
    from rich.console import Console

    Console(width=None if sys.stdout.isatty() else 160).print(renderable)


def _show_run(opened: HistoryStore, ref: str, format_: str) -> None:
    from llmbench.store.db.queries import find_run, request_counts, request_stats

    with opened.read() as connection:
        run = find_run(connection, ref)
        counts = request_counts(connection, run.pk)
        stats = request_stats(connection, run.pk)
    if format_ == "json":
        print(json.dumps({**_point(run), "started_at": run.started_at.isoformat(),
                          "request_rows": counts, "from_rows": stats}, indent=2))  # fmt: skip
        return
    from rich.table import Table

    labels = ", ".join(run.labels) or "–"
    print(f"run {run.run_id}: {run.target} / {run.scenario}, {run.status}, started "
          f"{run.started_at:%Y-%m-%d %H:%M:%S}; labels: {labels}")  # fmt: skip
    print(f"results: {run.results_path}; summary from {run.summary_source}")
    print("request rows: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    table = Table(title="from the stored request rows (measured ok requests)", title_justify="left")
    for name in ("metric", "n", "mean ms", "P50 ms", "P95 ms", "P99 ms"):
        table.add_column(name, justify="left" if name == "metric" else "right")
    for metric, s in stats.items():
        cells = ("–" if s[k] is None else f"{s[k]:.2f}" for k in ("mean", "p50", "p95", "p99"))
        table.add_row(metric, str(s["n"]), *cells)
    _print(table)


def history(
    run: Annotated[str | None, typer.Argument(help="one run (id or label): its details")] = None,
    store: StoreOption = None,
    target: Annotated[str | None, typer.Option(help="only this target")] = None,
    scenario: Annotated[str | None, typer.Option(help="only this scenario")] = None,
    label: Annotated[str | None, typer.Option(help="only runs with this label")] = None,
    since: Annotated[str | None, typer.Option(help="only runs since: 7d, 24h, 2026-01-31")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="the newest N runs")] = None,
    trend: Annotated[
        str | None, typer.Option(help="a metric over time, e.g. ttft_ms.p50", metavar="METRIC")
    ] = None,
    html: Annotated[
        Path | None, typer.Option(help="with --trend: also an offline HTML chart", metavar="FILE")
    ] = None,
    format_: Annotated[Literal["terminal", "json"], typer.Option("--format")] = "terminal",
) -> None:
    """List stored runs (filtered), one run's details, or a metric's trend over time."""
    from llmbench.store.db.queries import RunFilter, list_runs

    if html is not None and trend is None:
        raise ConfigError("an HTML chart is of a trend", where="--html", hint="add --trend METRIC")
    where = RunFilter(target, scenario, label, None if since is None else parse_since(since), limit)
    with open_store(store_text(store, fallback=True) or "default") as opened:
        if run is not None:
            _show_run(opened, run, format_)
            return
        with opened.read() as connection:
            found = list_runs(connection, where)
    if trend is not None:
        _trend(found, trend, html, format_)
    elif format_ == "json":
        print(json.dumps([{**_point(r), "started_at": r.started_at.isoformat()} for r in found],
                         indent=2))  # fmt: skip
    else:
        _print(_runs_table(found))


def run_directory(ref: str, store: str | None) -> Path:
    """A gate's RUN: a results directory as given, else a stored run's (by id or label)."""
    path = Path(ref)
    if path.is_dir():
        return path
    from llmbench.store.db.database import default_store_path
    from llmbench.store.db.queries import find_run

    text = store_text(store, fallback=False)
    if text is None and not default_store_path().exists():
        raise StoreError(
            f"{ref} is not a results directory (and there is no history store)",
            hint="pass a results directory, or a stored run's id or label with --store",
        )
    with open_store(text or "default") as opened, opened.read() as c:
        stored = find_run(c, ref)
    directory = Path(stored.results_path)
    if not directory.is_dir():
        raise StoreError(
            f"stored run {stored.run_id}: its results directory {directory} is not here",
            hint="the gate reads the request records: copy that directory here and pass it",
        )
    return directory
