"""GPU samples through NVML (nvidia-ml-py): utilization, memory, power and clocks per device.
No GPU, no driver or no library is a normal state, said as a reason, never an error.
"""

from __future__ import annotations

import contextlib
from typing import Any

_FIELDS = ("util_percent", "memory_used_bytes", "power_w", "sm_clock_mhz", "memory_clock_mhz")


class GpuReader:
    """The NVML handles of this host's GPUs; `devices` is empty when there are none."""

    def __init__(
        self, nvml: Any = None, devices: list[Any] | None = None, reason: str = ""
    ) -> None:
        self._nvml = nvml
        self.devices = devices or []
        self.reason = reason

    def sample(self) -> list[dict[str, float | None]]:
        nvml = self._nvml
        out = []
        for handle in self.devices:
            row: dict[str, float | None] = dict.fromkeys(_FIELDS)
            try:
                row["util_percent"] = nvml.nvmlDeviceGetUtilizationRates(handle).gpu
                row["memory_used_bytes"] = nvml.nvmlDeviceGetMemoryInfo(handle).used
                row["power_w"] = nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0
                row["sm_clock_mhz"] = nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM)
                row["memory_clock_mhz"] = nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_MEM)
            except nvml.NVMLError:
                pass  # a reading this device does not support stays None
            out.append(row)
        return out

    def summary(self, samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Per device: its name and the mean and max of each reading."""
        out = []
        for index, handle in enumerate(self.devices):
            rows = [s["gpu"][index] for s in samples if s.get("gpu")]
            stats: dict[str, Any] = {"index": index, "name": self._name(handle)}
            for key in _FIELDS:
                values = [r[key] for r in rows if r[key] is not None]
                if values:
                    stats[key] = {"mean": sum(values) / len(values), "max": max(values)}
            out.append(stats)
        return out

    def _name(self, handle: Any) -> str | None:
        try:
            name = self._nvml.nvmlDeviceGetName(handle)
        except self._nvml.NVMLError:
            return None
        return name.decode() if isinstance(name, bytes) else str(name)

    def close(self) -> None:
        if self.devices:
            with contextlib.suppress(self._nvml.NVMLError):
                self._nvml.nvmlShutdown()


def open_gpus() -> GpuReader:
    """This host's GPUs, or a reader with none and the reason (no library, no driver, none)."""
    try:
        import pynvml  # nvidia-ml-py: loads libnvidia-ml at nvmlInit, not at import
    except ImportError:
        return GpuReader(reason="nvidia-ml-py is not installed")
    try:
        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
        devices = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
    except pynvml.NVMLError as exc:
        return GpuReader(reason=f"no NVIDIA driver or GPU ({exc})")
    if not devices:
        pynvml.nvmlShutdown()
        return GpuReader(reason="NVML sees no GPU")
    return GpuReader(pynvml, devices)
