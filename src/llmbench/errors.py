"""The one exception hierarchy of llmbench.

    LlmbenchError
    ├── ConfigError          bad spec, flag or file; carries where and how to fix
    ├── EndpointError        the target cannot be used at all (not: a single failed request)
    ├── WorkloadError        the workload cannot be built
    ├── StoreError           results cannot be written or read
    │   ├── SchemaVersionError
    │   └── IncompatibleRunsError
    └── DistributedError     worker processes could not run the load

Failed requests are data (`RequestRecord.error`), never exceptions.
"""

from __future__ import annotations


class LlmbenchError(Exception):
    """Base of every error llmbench raises on purpose.

    `hint` says how to fix it; the CLI prints message and hint and exits without a traceback.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message} (fix: {self.hint})"


class ConfigError(LlmbenchError):
    """A spec, flag or config file is invalid; `where` is `file:line` or the flag name."""

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None) -> None:
        super().__init__(f"{where}: {message}" if where else message, hint=hint)
        self.where = where


class EndpointError(LlmbenchError):
    """The target cannot be used at all (unreachable before the run, no models, bad URL)."""


class WorkloadError(LlmbenchError):
    """The workload cannot be built from its spec."""


class StoreError(LlmbenchError):
    """A results directory cannot be written or read."""


class SchemaVersionError(StoreError):
    """A results file has a schema version this llmbench cannot read."""


class IncompatibleRunsError(StoreError):
    """Runs that differ in workload or spec were asked to be compared."""


class DistributedError(LlmbenchError):
    """A run over several processes (`--workers`, Ray) failed as a whole: workers that never
    became ready, or one that reported a known error. One worker dying mid-run is not this: its
    in-flight requests become `worker_lost` records and the run goes on."""
