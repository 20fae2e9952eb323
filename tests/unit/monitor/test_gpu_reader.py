"""The GPU reader over a stand-in NVML: names survive the shutdown that ends every run (the
summary is made after it), readings are summarized per device."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from llmbench.monitor.gpu import GpuReader


class FakeNvml:
    """NVML's calls the reader makes; after nvmlShutdown every call fails, as NVML's do."""

    NVML_CLOCK_SM, NVML_CLOCK_MEM = 0, 1

    class NVMLError(Exception):
        pass

    def __init__(self) -> None:
        self.up = True

    def _check(self) -> None:
        if not self.up:
            raise self.NVMLError("Uninitialized")

    def nvmlShutdown(self) -> None:
        self.up = False

    def nvmlDeviceGetName(self, handle: int) -> bytes:
        self._check()
        return f"NVIDIA H200 #{handle}".encode()

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Any:
        self._check()
        return SimpleNamespace(gpu=40 + handle)

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:
        self._check()
        return SimpleNamespace(used=2**30)

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        self._check()
        return 300_000

    def nvmlDeviceGetClockInfo(self, handle: int, clock: int) -> int:
        self._check()
        return 1980 if clock == self.NVML_CLOCK_SM else 3201


def test_names_are_read_before_the_shutdown_that_precedes_the_summary() -> None:
    reader = GpuReader(FakeNvml(), [0, 1])
    samples = [{"gpu": reader.sample()} for _ in range(3)]
    reader.close()
    devices = reader.summary(samples)
    assert [d.name for d in devices] == ["NVIDIA H200 #0", "NVIDIA H200 #1"]
    assert [d.util_percent.mean for d in devices if d.util_percent] == [40.0, 41.0]
    assert devices[0].power_w is not None
    assert devices[0].power_w.mean == 300.0
