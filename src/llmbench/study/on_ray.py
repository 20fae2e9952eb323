"""A study's runs with their load workers on Ray (`llmbench study --ray ADDRESS|local`): one
connection to the cluster for the whole study, made before its first Ray run and reused by every
run (`--ray local`: one instance, started once, with room for the study's largest run), closed at
the end. Agent workloads run in one process, as they do without Ray. The Ray settings go into
each run's spec (run.json), never into the study's spec or hashes: where the load ran does not
change the workload, so a study may be resumed on another cluster or without one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from llmbench.config import RunSpec
from llmbench.config.load import MAX_WORKERS
from llmbench.config.ray import RaySettings
from llmbench.run.plan import build_load
from llmbench.run.workers.ray_actors import connect_ray, import_ray
from llmbench.run.workers.share import choose_workers
from llmbench.study.plan import PlannedRun


@dataclass
class StudyRay:
    """Where a study's runs place their workers, and its one connection to the cluster."""

    settings: RaySettings
    in_process: set[int]  # orders of the runs that stay in one process (agent workloads)
    workers: int  # the most workers one run of the study places (sizes `--ray local`)
    _started: bool = field(default=False, init=False)

    def spec_for(self, run: PlannedRun) -> RunSpec:
        """The run's spec with the study's Ray settings (an agent workload's unchanged)."""
        if run.order in self.in_process:
            return run.spec
        return run.spec.model_copy(update={"ray": self.settings})

    async def prepare(self, run: PlannedRun) -> RunSpec:
        """`spec_for(run)`, connected to the cluster first when it goes on Ray."""
        if run.order not in self.in_process:
            await self._connect()
        return self.spec_for(run)

    async def _connect(self) -> None:
        """Connects once (later calls: nothing); a DistributedError when it cannot."""
        if not self._started:
            ray = import_ray()
            self._started = await asyncio.to_thread(connect_ray, ray, self.settings, self.workers)

    async def close(self) -> None:
        if self._started:
            await asyncio.to_thread(import_ray().shutdown)
            self._started = False


def plan_ray(runs: list[PlannedRun], settings: RaySettings) -> StudyRay:
    """Which runs go on Ray, and how many workers the largest places (`--ray-workers`, else
    each run's own choice: one per 128 streams or 64 requests/s)."""
    import_ray()  # Ray missing: one line naming the extra, before any run
    in_process, most = set(), 1
    for run in runs:
        load = build_load(run.spec)
        if load.agent is not None:  # its requests depend on each other's replies
            in_process.add(run.order)
            continue
        most = max(most, choose_workers(load, requested=settings.workers, cpus=MAX_WORKERS))
    return StudyRay(settings, in_process, most)


@asynccontextmanager
async def ray_session(study_ray: StudyRay | None) -> AsyncIterator[StudyRay | None]:
    """The study's Ray connection, closed (a `--ray local` instance stopped) at the end."""
    try:
        yield study_ray
    finally:
        if study_ray is not None:
            await study_ray.close()
