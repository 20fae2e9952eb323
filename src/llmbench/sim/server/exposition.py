"""The simulator's `GET /metrics`: Prometheus text (format 0.0.4) under vLLM's metric names for
what the twin knows, beside its own `llmbench_sim_*` names, so a scraper built for vLLM reads
the simulator unchanged and tests can check it against the twin's own counters.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping

# vLLM's request-latency buckets (seconds), cut to the range a simulated run reaches.
LATENCY_BUCKETS_S = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0,
                     2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0)  # fmt: skip


class Histogram:
    """Cumulative buckets, a sum and a count, as a Prometheus histogram exposes them."""

    __slots__ = ("count", "counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * len(LATENCY_BUCKETS_S)  # per bucket, not cumulative
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        index = bisect.bisect_left(LATENCY_BUCKETS_S, value)
        if index < len(self.counts):
            self.counts[index] += 1
        self.count += 1
        self.sum += value

    def lines(self, name: str) -> list[str]:
        out = [f"# TYPE {name} histogram"]
        cumulative = 0
        for le, n in zip(LATENCY_BUCKETS_S, self.counts, strict=True):
            cumulative += n
            out.append(f'{name}_bucket{{le="{le}"}} {cumulative}')
        out += [f'{name}_bucket{{le="+Inf"}} {self.count}', f"{name}_sum {self.sum}",
                f"{name}_count {self.count}"]  # fmt: skip
        return out


def prometheus_text(
    values: Mapping[str, float], histograms: Mapping[str, Histogram] | None = None
) -> str:
    """Gauges and counters (a name ending in `_total` is a counter), then histograms."""
    lines: list[str] = []
    for name, value in values.items():
        kind = "counter" if name.endswith("_total") else "gauge"
        lines += [f"# TYPE {name} {kind}", f"{name} {value}"]
    for name, histogram in (histograms or {}).items():
        lines += histogram.lines(name)
    return "\n".join(lines) + "\n"
