"""The common parts of results files: the frozen `Block` base and the `Distribution` of one
metric's sample (a `describe` result), shared by run.json's blocks (run_schema, task_schema)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer


class Block(BaseModel):
    """A part of a results file: frozen, no unknown keys, strict JSON (no inf/nan)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_serializer(mode="wrap")
    def _present_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A field with a default is a key some files lack, written only when it was given
        (a `goodput` of None is no key at all, as before). Required fields are always written."""
        data: dict[str, Any] = handler(self)
        for name, info in type(self).model_fields.items():
            if not info.is_required() and name not in self.model_fields_set:
                data.pop(name, None)
        return data


class TukeyOutliers(Block):
    """Tukey fences (k = 1.5 and 3): flags, never drops; all None below 4 values."""

    fence_1_5: tuple[float, float] | None
    n_beyond_1_5: int | None
    indices_beyond_1_5: list[int] | None = Field(description="into the metric's sample")
    fence_3: tuple[float, float] | None
    n_beyond_3: int | None
    indices_beyond_3: list[int] | None


class Distribution(Block):
    """One metric's sample described (docs/metrics.md); None: too few samples or empty."""

    n: int = Field(ge=0)
    confidence: float
    mean: float | None
    std: float | None = Field(description="ddof = 1")
    min: float | None
    p5: float | None
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    max: float | None
    spread_p5_p95: float | None
    spread_min_max: float | None
    mean_ci: tuple[float, float] | None = Field(description="percentile bootstrap")
    p95_ci: tuple[float, float] | None = Field(description="order statistics, distribution-free")
    p99_ci: tuple[float, float] | None
    outliers: TukeyOutliers | None
