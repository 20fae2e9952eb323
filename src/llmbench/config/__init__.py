"""Validated, frozen specifications of what to run (pydantic v2)."""

from llmbench.config.load import (
    ClosedLoad,
    ConcurrencySweepStudy,
    InputSweepStudy,
    LoadSpec,
    OpenLoad,
    RampLoad,
    RepeatStudy,
    ReplayLoad,
    SloSearchStudy,
    StudySpec,
    SweepStudy,
    ValiditySpec,
    is_open_loop,
)
from llmbench.config.run import (
    RunSpec,
    SimSpec,
    TargetSpec,
    WorkloadSpec,
    parse_load,
    upgrade_spec_v1,
)
from llmbench.config.slo import SloSpec

__all__ = [
    "ClosedLoad",
    "ConcurrencySweepStudy",
    "InputSweepStudy",
    "LoadSpec",
    "OpenLoad",
    "RampLoad",
    "RepeatStudy",
    "ReplayLoad",
    "RunSpec",
    "SimSpec",
    "SloSearchStudy",
    "SloSpec",
    "StudySpec",
    "SweepStudy",
    "TargetSpec",
    "ValiditySpec",
    "WorkloadSpec",
    "is_open_loop",
    "parse_load",
    "upgrade_spec_v1",
]
