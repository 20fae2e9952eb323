"""The terminal view of a calibrated preset file's `fitted` block: what it was fitted on, the fit
error on the calibration runs, and the validation error per run and per load level (mean and
P95 of TTFT, ITL, E2E as predicted / measured − 1). Built from the file alone.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

_KEYS = tuple(
    (f"{metric}.{stat}", f"{label} {stat}")
    for metric, label in (("ttft_ms", "TTFT"), ("itl_ms", "ITL"), ("e2e_ms", "E2E"))
    for stat in ("mean", "p95")
)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:+.1%}"


def _load(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def error_table(title: str, rows: list[dict[str, Any]]) -> Table:
    """One row per run: its load (share of capacity), n, and each statistic's relative error."""
    table = Table(title=title, title_justify="left")
    table.add_column("run", justify="left", no_wrap=True)
    for label in ("load", "n", *(label for _, label in _KEYS)):
        table.add_column(label, justify="right")
    for row in sorted(rows, key=lambda r: r.get("load_fraction") or 0.0):
        errors = row.get("relative_error") or {}
        name = str(row.get("run", "?")).rstrip("/").rsplit("/", 2)
        table.add_row(
            "/".join(name[-2:]),
            _load(row.get("load_fraction")),
            str(row.get("n")),
            *(_pct(errors.get(key)) for key, _ in _KEYS),
        )
    return table


def level_table(levels: dict[str, dict[str, Any]]) -> Table:
    table = Table(
        title="validation: mean |relative error| per load level (share of measured capacity; "
        "mixed: runs of varied lengths)",
        title_justify="left",
    )
    for label in ("load", "runs", *(label for _, label in _KEYS)):
        table.add_column(label, justify="left" if label == "load" else "right")
    for level, row in levels.items():
        cells = ("–" if row.get(k) is None else f"{row[k]:.1%}" for k, _ in _KEYS)
        table.add_row(level, str(int(row.get("runs") or 0)), *cells)
    return table


def provenance_lines(fitted: dict[str, Any]) -> list[Text]:
    engine = fitted.get("engine") or {}
    runs = fitted.get("runs") or []
    capacity = fitted.get("capacity_per_s")
    lines = [
        Text.assemble(
            ("fitted ", "bold"),
            f"{fitted.get('date')} by llmbench {fitted.get('llmbench_version')}, "
            f"shape {fitted.get('shape')}, on {len(runs)} run(s)",
        ),
        Text(
            f"  engine {engine.get('name') or '?'} {engine.get('version') or ''}".rstrip()
            + f", GPU {engine.get('gpu') or '?'}, models {', '.join(engine.get('models') or [])}"
        ),
        Text(
            "  measured capacity "
            + ("–" if capacity is None else f"{capacity:.3g} requests/s")
            + "; targets "
            + ", ".join(sorted({str((r.get("target") or {}).get("base_url")) for r in runs}))
        ),
    ]
    errors = fitted.get("mean_abs_relative_error") or {}
    if errors:
        lines.append(
            Text(
                f"  on the samples: TTFT {errors.get('ttft', 0):.1%}, "
                f"decode step {errors.get('itl', 0):.1%} mean |relative error|"
            )
        )
    lines += [Text(f"  note: {note}", style="yellow") for note in fitted.get("notes") or []]
    return lines


def calibration_report(document: dict[str, Any]) -> RenderableType:
    fitted = document.get("fitted") or {}
    parts: list[RenderableType] = list(provenance_lines(fitted))
    if fit_rows := fitted.get("fit_error"):
        parts.append(
            error_table("fit error on the calibration runs (predicted/measured − 1)", fit_rows)
        )
    validation = fitted.get("validation") or {}
    if rows := validation.get("runs"):
        parts.append(error_table("validation runs (predicted/measured − 1)", rows))
    if levels := validation.get("by_load_level"):
        parts.append(level_table(levels))
    return Group(*parts)
