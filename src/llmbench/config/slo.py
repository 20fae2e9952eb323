"""Service-level objectives of a run (`--slo ttft_ms:500,tpot_ms:50`) and their parser: what
counts as a good request for goodput and for `slo-search`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from llmbench.errors import ConfigError

_MAX_MS = 7 * 24 * 3600 * 1000.0  # a week


class SloSpec(BaseModel):
    """Service-level objectives per request (ms); a request is good when it meets every one."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    ttft_ms: float | None = Field(None, gt=0, le=_MAX_MS)
    tpot_ms: float | None = Field(None, gt=0, le=_MAX_MS)
    e2e_ms: float | None = Field(None, gt=0, le=_MAX_MS)
    itl_ms: float | None = Field(None, gt=0, le=_MAX_MS, description="every ITL gap of the request")
    attainment: float = Field(0.95, gt=0, le=1, description="slo-search: good fraction needed")

    @model_validator(mode="after")
    def _check_any(self) -> SloSpec:
        if not self.limits_ms():
            raise ValueError("name at least one objective, e.g. ttft_ms:500,tpot_ms:50")
        return self

    def limits_ms(self) -> dict[str, float]:
        names = ("ttft_ms", "tpot_ms", "e2e_ms", "itl_ms")
        return {n: v for n in names if (v := getattr(self, n)) is not None}


def parse_slo(text: str, attainment: float = 0.95) -> SloSpec:
    """`ttft_ms:500,tpot_ms:50,e2e_ms:10000` → SloSpec; raises ConfigError naming --slo."""
    limits: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition(":")
        try:
            limits[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise ConfigError(
                f"{part!r} is not name:milliseconds",
                where="--slo",
                hint="e.g. --slo ttft_ms:500,tpot_ms:50,e2e_ms:10000 (also itl_ms)",
            )
    try:
        return SloSpec.model_validate({**limits, "attainment": attainment})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "--slo-attainment" if first["loc"] == ("attainment",) else "--slo"
        raise ConfigError(
            f"{'.'.join(map(str, first['loc'])) or 'slo'}: {first['msg']}",
            where=where,
            hint="objectives: ttft_ms, tpot_ms, e2e_ms, itl_ms, each > 0",
        ) from None
