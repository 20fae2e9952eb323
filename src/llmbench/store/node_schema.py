"""run.json's `client.nodes`: a Ray run's load workers grouped by the node they ran on, each
node's environment (captured there) and its workers' saturation watch pooled
(docs/distributed.md, "Per node")."""

from __future__ import annotations

from pydantic import Field

from llmbench.store.blocks import Block


class NodeHealth(Block):
    """One node of a Ray run: which workers ran there, on what, and how their watch judged it."""

    node: str = Field(description="the Ray node: hostname (node id prefix)")
    workers: list[int] = Field(description="worker ids placed on it")
    lost: list[int] = Field(description="of those, the workers that died")
    hostname: str | None
    os: str | None
    cpu_model: str | None
    cpu_logical: int | None
    python: str | None
    llmbench: str | None
    differs_from_driver: list[str] = Field(
        description="Python, llmbench and package versions unlike the driver's ([] when alike)"
    )
    saturated: bool = Field(description="some worker on it saturated (the watch's own rule)")
    reasons: list[str]
    timestamp_delay_ms: float | None = Field(
        description="about how late its workers' timestamps were (pooled lag samples)"
    )
    loop_lag_n: int
    loop_lag_ms_p99: float | None = Field(description="over its workers' pooled samples")
    loop_lag_ms_max: float | None
    cpu_s: float | None = Field(description="CPU seconds of its workers, summed")
    cpu_mean_cores: float | None = Field(
        description="its workers' mean CPU fractions summed: cores they kept busy on average"
    )
    cpu_max_fraction: float | None = Field(description="the busiest worker's peak, of one core")
