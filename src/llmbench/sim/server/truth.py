"""The simulator's ground-truth endpoints, beside the API it serves: the emission log
(`/sim/log`, one entry, clearing it), the engine phases alone (`/sim/phases`) and the
Prometheus text (`/metrics`) of what its twin knows.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from llmbench.sim.server.log import EmissionLog
from llmbench.sim.server.protocol import error_body


class TruthFace:
    """`TruthFace(log, metrics_text).install(app)`; `metrics_text()` renders `/metrics`."""

    def __init__(self, log: EmissionLog, metrics_text: Callable[[], str]) -> None:
        self.log = log
        self.metrics_text = metrics_text

    def install(self, app: web.Application) -> None:
        app.router.add_get("/sim/log", self.log_all)
        app.router.add_get("/sim/phases", self.phases)
        app.router.add_post("/sim/log/clear", self.log_clear)
        app.router.add_get("/sim/log/{request_id}", self.log_one)
        app.router.add_get("/metrics", self.metrics)

    async def log_all(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"requests": [e.to_dict() for e in self.log.entries()]})

    async def phases(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.log.phases())

    async def log_one(self, request: web.Request) -> web.StreamResponse:
        entry = self.log.get(request.match_info["request_id"])
        if entry is None:
            body = error_body(
                "no log entry for this request id", "not_found_error", code="not_found"
            )
            return web.Response(status=404, body=body, content_type="application/json")
        return web.json_response(entry.to_dict())

    async def log_clear(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"cleared": self.log.clear()})

    async def metrics(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text=self.metrics_text(), content_type="text/plain")
