"""Settings of a run whose load workers are Ray actors (`--ray`, docs/distributed.md)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, field_validator, model_validator

from llmbench.config.load import MAX_WORKERS, Spec


class RaySettings(Spec):
    """Where Ray places the load workers; `address` None: worker processes on this host."""

    address: str | None = Field(
        None,
        description="Ray cluster for the load workers: its head's host:port, or 'local' "
        "(a Ray instance started for this run)",
    )
    workers: int | None = Field(
        None,
        ge=1,
        le=MAX_WORKERS,
        description="load workers as Ray actors; None: one per 128 streams or 64 requests/s",
    )
    cpus_per_worker: float = Field(
        1.0, gt=0, le=1024, description="CPUs each worker's placement-group bundle reserves"
    )
    records_host: str | None = Field(
        None,
        description="address the workers send records to (the driver's); "
        "None: the driver's address in the Ray cluster",
    )
    records_port: int = Field(
        0, ge=0, le=65535, description="port the driver takes the workers' records on (0: any)"
    )

    @field_validator("address")
    @classmethod
    def _check_address(cls, address: str | None) -> str | None:
        """Checked here: Ray's own parser logs a traceback before it refuses one."""
        if address is None or address in ("local", "auto") or address.startswith("ray://"):
            return address
        host, _, port = address.strip().rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(
                f"{address!r} is not the head's HOST:PORT (e.g. 10.0.0.5:6379), ray://HOST:PORT "
                "or 'local'"
            )
        return address

    @model_validator(mode="after")
    def _workers_need_a_cluster(self) -> Self:
        if self.workers is not None and self.address is None:
            raise ValueError("ray.workers needs ray.address: the cluster to place them on (--ray)")
        return self
