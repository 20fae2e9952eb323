"""Trust judged per metric: the client's timestamp delay weighed against each metric's median,
apart from a CPU-bound client (every number suspect)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from rich.console import Console

from llmbench.monitor.client_health import judge_metrics, verdict
from llmbench.report.terminal import run_summary
from llmbench.store.run_schema import ClientHealth
from support.runs import run_with


def stats(median_ms: float) -> dict[str, float | int]:
    return {"n": 50, "p50": median_ms, "mean": median_ms}


# A busy engine on the same host: the client idles (3 % of a core) and its loop wakes ~2 ms late.
HOST_DELAYED = verdict(np.full(300, 2.0), np.full(10, 0.03), 0.5)
SUMMARY = {"ttft_ms": stats(5.0), "itl_ms": stats(60.0), "e2e_ms": stats(2000.0)}


def test_a_2ms_host_delay_spoils_a_5ms_ttft_not_a_2s_e2e() -> None:
    client = judge_metrics(HOST_DELAYED, SUMMARY)
    trust = client["trust"]
    assert trust["timestamp_delay_ms"] == 2.0
    assert trust["affected"] == ["ttft_ms"]
    assert trust["metrics"]["ttft_ms"]["delay_fraction"] == 0.4  # 2 ms of 5 ms
    assert trust["metrics"]["e2e_ms"] == {
        "median_ms": 2000.0, "delay_fraction": 0.001, "trustworthy": True,
    }  # fmt: skip
    assert trust["metrics"]["itl_ms"]["trustworthy"] is True  # 2 ms of 60 ms: 3.3 %
    assert client["cpu_bound"] is False
    assert client["saturated"] is True  # one metric cannot be trusted
    (reason,) = client["reasons"]
    assert "about 2.00 ms" in reason
    assert "TTFT (median 5.00 ms: 40%)" in reason
    assert "E2E" not in reason
    assert "only 3% of a core" in reason


def test_the_same_delay_against_long_metrics_flags_nothing() -> None:
    client = judge_metrics(HOST_DELAYED, {"ttft_ms": stats(200.0), "e2e_ms": stats(2000.0)})
    assert client["trust"]["affected"] == []
    assert client["saturated"] is False
    assert client["reasons"] == []
    assert client["remedy"] is None


def test_a_cpu_bound_client_is_told_apart_from_a_delayed_host() -> None:
    busy = verdict(np.full(300, 0.1), np.full(10, 0.97), 0.5)  # 5 s at 97 % of a core
    client = judge_metrics(busy, {"e2e_ms": stats(2000.0)})
    assert client["cpu_bound"] is True
    assert client["trust"]["affected"] == []
    assert client["saturated"] is True
    assert client["reasons"] == client["cpu_reasons"]


def test_tpot_spreads_the_delay_over_its_tokens() -> None:
    # TPOT = (E2E − TTFT) / (tokens − 1): a 2 ms delay moves a 64-token TPOT by 2/63 ms.
    summary = {"tpot_ms": stats(20.0), "output_tokens": stats(64.0)}
    tpot = judge_metrics(HOST_DELAYED, summary)["trust"]["metrics"]["tpot_ms"]
    assert tpot["delay_fraction"] == pytest.approx(2.0 / 63 / 20.0)
    assert tpot["trustworthy"] is True


def test_too_few_lag_samples_judge_nothing() -> None:
    client = judge_metrics(verdict(np.full(5, 9.0), np.array([0.1]), 0.5), SUMMARY)
    assert client["trust"]["timestamp_delay_ms"] is None
    assert client["trust"]["metrics"] == {}


def test_the_terminal_line_names_the_affected_metric_and_by_how_much() -> None:
    client = ClientHealth.model_validate(judge_metrics(HOST_DELAYED, SUMMARY))
    run = run_with(client=client)
    console = Console(width=400, record=True, file=io.StringIO())
    console.print(run_summary(run))
    text = console.export_text()
    assert (
        "! the host delayed the client's timestamps by about 2.00 ms: TTFT (median 5.00 ms, "
        "up to 40% off) not trustworthy; ITL, E2E trustworthy (under 5% of their medians)"
    ) in text
    assert "saturated" not in text
    assert "CPU-bound" not in text


def test_the_samplers_timer_rounding_is_not_counted_as_timestamp_delay() -> None:
    # uvloop rounds timers to whole ms: on an idle host the 10 ms sampler wakes up to ~1 ms
    # early or late, while a read timestamp (taken when the socket wakes the loop) is not
    # rounded. 200 samples spread over [-1, +1] ms: no delay left once the rounding is taken off.
    idle = verdict(np.linspace(-1.0, 1.0, 200), np.zeros(0), 0.5)
    assert idle["timestamp_delay_ms"] == pytest.approx(0.0, abs=0.02)
    assert "timer rounding" in idle["timestamp_delay_basis"]
    # A host that delays the loop: P99 near 5 ms, the same 1 ms rounding step: about 4 ms.
    busy = verdict(np.concatenate([np.linspace(-1.0, 1.0, 190), np.full(10, 5.0)]),
                   np.zeros(0), 0.5)  # fmt: skip
    assert busy["timestamp_delay_ms"] == pytest.approx(4.0, abs=0.05)
    # No early wake-up (a precise timer): nothing is taken off.
    precise = verdict(np.concatenate([np.zeros(190), np.full(10, 3.0)]), np.zeros(0), 0.5)
    assert precise["timestamp_delay_ms"] == pytest.approx(3.0)
