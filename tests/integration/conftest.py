"""Integration fixtures: the simulated server as a real process on a loopback port."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from llmbench.config import SimSpec
from llmbench.run.target import EmbeddedSim

StartSim = Callable[..., str]


@pytest.fixture
def start_sim() -> Iterator[StartSim]:
    """`start_sim(ttft_ms=..., itl_ms=..., extra_args=[...])` → base URL; stopped after the test."""
    started: list[EmbeddedSim] = []

    def start(*, extra_args: list[str] | None = None, **settings: float) -> str:
        sim = EmbeddedSim(SimSpec(**settings), extra_args=extra_args)  # type: ignore[arg-type]
        started.append(sim)
        return sim.start()

    yield start
    for sim in started:
        sim.stop()
