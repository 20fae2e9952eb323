"""The delivery line shows a send-lag P99 only where the number of sends supports one."""

from __future__ import annotations

from llmbench.report.load import delivery_line
from llmbench.store.run_schema import ClosedLoopDelivery, LagSummary
from support.runs import golden_run

LAG = {"p50": 0.4, "p99": 19.77, "max": 19.92}


def _line(sends: int) -> str:
    delivery = ClosedLoopDelivery(
        mode="closed_loop",
        requested_concurrency=4,
        mean_concurrency=3.9,
        send_lag_ms=LagSummary(**LAG),
        sends=sends,
    )
    line = delivery_line(golden_run("closed").model_copy(update={"delivery": delivery}))
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
