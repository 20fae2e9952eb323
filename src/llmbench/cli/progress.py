"""A live progress bar with ok/error counts, fed one record at a time (on stderr)."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from llmbench.metrics.columns import ColumnRow

_COUNTS = "ok {task.fields[ok]}  errors {task.fields[errors]}  warm-up {task.fields[warmup]}"


class RunProgress:
    def __init__(self, console: Console, *, total: int | None, duration_s: float | None) -> None:
        self._by_time = total is None and duration_s is not None
        self._started = time.monotonic()
        self._duration_s = duration_s
        self._ok = self._errors = self._warmup = 0
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn() if not self._by_time else TextColumn(""),
            TextColumn(_COUNTS),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._task = self._progress.add_task(
            "requests", total=duration_s if self._by_time else total, ok=0, errors=0, warmup=0
        )

    def update(self, row: ColumnRow) -> None:
        if row.warmup:
            self._warmup += 1
        elif row.ok:
            self._ok += 1
        else:
            self._errors += 1
        done = (
            time.monotonic() - self._started
            if self._by_time
            else self._ok + self._errors + self._warmup
        )
        self._progress.update(
            self._task, completed=done, ok=self._ok, errors=self._errors, warmup=self._warmup
        )

    def __enter__(self) -> RunProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._progress.stop()
