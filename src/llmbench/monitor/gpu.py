"""GPU samples through NVML (nvidia-ml-py): utilization, memory, power and clocks per device.
No GPU, no driver or no library is a normal state, said as a reason, never an error.
"""

from __future__ import annotations

import contextlib
from typing import Any

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer

_FIELDS = ("util_percent", "memory_used_bytes", "power_w", "sm_clock_mhz", "memory_clock_mhz")


class GpuReading(BaseModel):
    """One reading's mean and max over the samples that had it (max as NVML gave it)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    mean: float
    max: int | float


class GpuDevice(BaseModel):
    """run.json's `monitors.gpu` entry for one device: a reading it never gave is no key."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    index: int
    name: str | None
    util_percent: GpuReading | None = None
    memory_used_bytes: GpuReading | None = None
    power_w: GpuReading | None = None
    sm_clock_mhz: GpuReading | None = None
    memory_clock_mhz: GpuReading | None = None

    @model_serializer(mode="wrap")
    def _present_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if k in self.model_fields_set}


class GpuReader:
    """The NVML handles of this host's GPUs; `devices` is empty when there are none."""

    def __init__(
        self, nvml: Any = None, devices: list[Any] | None = None, reason: str = ""
    ) -> None:
        self._nvml = nvml
        self.devices = devices or []
        self.reason = reason
        # read now: the summary is made after close() (nvmlShutdown), when NVML answers nothing
        self.names = [self._name(handle) for handle in self.devices]

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

    def summary(self, samples: list[dict[str, Any]]) -> list[GpuDevice]:
        """Per device: its name and the mean and max of each reading."""
        out = []
        for index in range(len(self.devices)):
            rows = [s["gpu"][index] for s in samples if s.get("gpu")]
            readings: dict[str, GpuReading] = {}
            for key in _FIELDS:
                values = [r[key] for r in rows if r[key] is not None]
                if values:
                    readings[key] = GpuReading(mean=sum(values) / len(values), max=max(values))
            device = {"index": index, "name": self.names[index], **readings}
            out.append(GpuDevice.model_validate(device))  # readings it lacks: no key
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
