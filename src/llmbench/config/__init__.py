"""Validated, frozen specifications of what to run (pydantic v2)."""

from llmbench.config.run import (
    LoadSpec,
    RunSpec,
    SimSpec,
    TargetSpec,
    ValiditySpec,
    WorkloadSpec,
)
from llmbench.config.slo import SloSpec

__all__ = [
    "LoadSpec",
    "RunSpec",
    "SimSpec",
    "SloSpec",
    "TargetSpec",
    "ValiditySpec",
    "WorkloadSpec",
]
