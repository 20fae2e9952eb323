"""Settings of a run whose load workers are Ray actors (`--ray`, docs/distributed.md)."""

from __future__ import annotations

from pydantic import Field

from llmbench.config.load import MAX_WORKERS, Spec


class RaySettings(Spec):
    """Where Ray places the load workers; `address` None: worker processes on this host."""

    address: str | None = Field(
        None,
        min_length=1,
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
