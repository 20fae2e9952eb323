"""The delivery line shows a send-lag P99 only where the number of sends supports one."""

from __future__ import annotations

from typing import Any

from llmbench.report.load import delivery_line

LAG = {"p50": 0.4, "p99": 19.77, "max": 19.92}


def _line(sends: int) -> str:
    run: dict[str, Any] = {
        "delivery": {
            "mode": "closed_loop",
            "requested_concurrency": 4,
            "mean_concurrency": 3.9,
            "send_lag_ms": LAG,
            "sends": sends,
        }
    }
    line = delivery_line(run)
    assert line is not None
    return line.plain


def test_send_lag_p99_is_withheld_below_100_sends() -> None:
    # 40 sends: rank 0.99 · 39 = 38.6 lies between the two largest values, not a P99.
    line = _line(40)
    assert "P99 – (40 sends, a P99 needs 100), max 19.92 ms" in line
    assert "19.77" not in line


def test_send_lag_p99_is_shown_from_100_sends() -> None:
    line = _line(100)
    assert "P99 19.77 ms" in line
    assert "P50 0.40 ms" in line
