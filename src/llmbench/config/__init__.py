"""Validated, frozen specifications of what to run (pydantic v2)."""

from llmbench.config.run import LoadSpec, RunSpec, SimSpec, TargetSpec, WorkloadSpec

__all__ = ["LoadSpec", "RunSpec", "SimSpec", "TargetSpec", "WorkloadSpec"]
