"""Composition root of a run: spec → workload + client + engine → store + summary.

The CLI decides where the target is (a URL, or the embedded simulator it started) and hands the
API key in; this module wires the layers together and returns the run.json it wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from llmbench.clients.a2a import read_agent_card
from llmbench.clients.engines import (
    Detection,
    check_request_fields,
    detect_engine,
    force_length_fields,
    refused_field_error,
    sent_fields_of,
)
from llmbench.clients.openai import OpenAIClient, list_models
from llmbench.clients.scrape import TargetEnvironment, describe_target, read_sim_phases
from llmbench.clients.tokens import Tokenizer, load_tokenizer
from llmbench.config import RunSpec, SimSpec
from llmbench.config.load import MAX_WORKERS
from llmbench.config.run import ENGINE_NAMES
from llmbench.engine.closed_loop import PhaseOutcome, RunOutcome
from llmbench.engine.protocol import Conversant
from llmbench.errors import ConfigError, DistributedError, EndpointError, StoreError
from llmbench.metrics.agent_loop import agent_loop_summary
from llmbench.metrics.columns import ColumnRow, RunColumns, column_row
from llmbench.metrics.summary import summarize_run
from llmbench.metrics.tasks import summarize_tasks
from llmbench.monitor.cache_evidence import cache_evidence
from llmbench.monitor.client_health import ClientWatch, judge_metrics, merge_reports
from llmbench.monitor.decomposition import decompose
from llmbench.monitor.environment import capture_environment
from llmbench.monitor.task_parts import decompose_tasks
from llmbench.records import RequestRecord
from llmbench.redaction import public_url
from llmbench.run.plan import LoadPlan, TaskSink, build_load, prompt_tokens
from llmbench.run.sessions import sessions_block
from llmbench.run.taskapi import TASK_KINDS, bind_target
from llmbench.run.watching import RunWatch
from llmbench.run.workers.child import WorkerTask, check_target_kind, make_client
from llmbench.run.workers.nodes import node_health
from llmbench.run.workers.pool import RecordSink, run_workers
from llmbench.run.workers.ray_actors import ray_placement
from llmbench.run.workers.share import choose_workers, usable_cpus
from llmbench.store.results import RunWriter, record_line
from llmbench.store.run_schema import (
    AgentLoopSummary,
    ClientHealth,
    Clock,
    EngineInfo,
    Environment,
    Phase,
    RunResult,
    RunSummaryParts,
    SpecSource,
    TargetEngine,
    TargetInfo,
    WorkersInfo,
)
from llmbench.store.task_schema import TaskSummary
from llmbench.tasks import TaskRecord


@dataclass(frozen=True, slots=True)
class Target:
    base_url: str
    embedded_sim: SimSpec | None = None  # the simulator's settings when llmbench started it
    pid: int | None = None  # the target's process, when llmbench started it


def public_spec(spec: RunSpec) -> RunSpec:
    """The spec as stored: every field (validated from its full dump, so each one is written),
    its URL without credentials."""
    dumped = spec.model_dump(mode="json")
    if spec.target.base_url is not None:
        dumped["target"]["base_url"] = public_url(spec.target.base_url)
    return RunSpec.model_validate(dumped)


def default_run_id(spec: RunSpec, target: Target) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    embedded = target.embedded_sim is not None
    name = spec.name or ("sim" if embedded else urlsplit(target.base_url).hostname)
    return f"{stamp}-{name}-{secrets.token_hex(2)}"


def target_id_of(spec: RunSpec, target: Target) -> str:
    if spec.name:
        return spec.name
    url = public_url(target.base_url)  # no user:password in an id that every record carries
    return "sim" if target.embedded_sim is not None else (urlsplit(url).netloc or url)


async def _resolve_target(
    spec: RunSpec, target: Target, api_key: str | None
) -> tuple[str, list[str], TargetEngine]:
    """The model to send, the model list and the engine. Only an OpenAI-compatible target is
    asked for its models, probed for its engine and sent a probe of the run's request fields;
    another kind (`target.kind`) sends the model named, or the embedded simulator's."""
    check_target_kind(spec)
    kind = spec.target.kind
    if kind == "a2a":  # the agent's name from its card: also checks that the card is there
        card = await read_agent_card(
            target.base_url, api_key=api_key, extra_headers=spec.target.extra_headers
        )
        return spec.target.model or card["name"], [], TargetEngine(name=None, source="agent card")
    if kind in TASK_KINDS:  # an agent service: no model to name (an agent profile at most)
        return spec.target.model or kind, [], TargetEngine(name=None, source=f"not probed: {kind}")
    if kind != "openai":
        model = spec.target.model or (target.embedded_sim.model if target.embedded_sim else None)
        if model is None:
            raise ConfigError(
                f"--target-kind {kind} asks for no model list: name the model",
                where="--model",
                hint="--model MODEL, the id the provider gives it (docs/agent-services.md)",
            )
        return model, [], TargetEngine(name=None, source=f"not probed: a {kind} target")
    model, models = await _resolve_model(spec, target.base_url, api_key)
    engine = await _resolve_engine(spec, target, api_key)
    if target.embedded_sim is None:
        await _check_request_fields(spec, target, model, engine, api_key)
    return model, models, engine


async def _resolve_model(
    spec: RunSpec, base_url: str, api_key: str | None
) -> tuple[str, list[str]]:
    """The model to send and the target's model list; a named model skips the list (some
    servers answer GET /v1/models slowly, or with a 500, and it is not needed)."""
    if spec.target.model is not None:
        return spec.target.model, []
    models = await list_models(base_url, api_key=api_key, extra_headers=spec.target.extra_headers)
    if not models:
        raise EndpointError(f"{public_url(base_url)} lists no models", hint="name one with --model")
    return models[0], models


async def _resolve_engine(spec: RunSpec, target: Target, api_key: str | None) -> TargetEngine:
    """run.json's `target.engine`: the engine named by --engine, or detected when the run
    sends engine-specific fields (--force-length, --extra-body); its forcing fields checked."""
    if target.embedded_sim is not None:
        return TargetEngine(name=None, source="embedded simulator (always generates max_tokens)")
    name, source, evidence = spec.target.engine, "--engine", None
    if name is None and (spec.workload.force_length or spec.target.extra_body):
        detection = await detect_engine(
            target.base_url, api_key=api_key, extra_headers=spec.target.extra_headers
        )
        name, source, evidence = detection.engine, "detected", detection.evidence
    if spec.workload.force_length:
        if name is None:
            raise ConfigError(
                f"cannot tell which engine serves {public_url(target.base_url)} ({evidence}), "
                "so not which fields force the output length",
                where="--force-length",
                hint=f"name it with --engine {'|'.join(ENGINE_NAMES)} (docs/engines.md)",
            )
        force_length_fields(name)  # a ConfigError when this engine has none
    return TargetEngine(name=name, source=source if name else None, evidence=evidence)


async def _check_request_fields(
    spec: RunSpec, target: Target, model: str, engine: TargetEngine, api_key: str | None
) -> None:
    """One short request of the run's shape before the load, when it carries engine-specific
    fields: a server that refuses one (400/422 naming it) stops the run with one clear error
    instead of failing every request the same way."""
    name = engine.name
    force = force_length_fields(name)(1) if name and spec.workload.force_length else {}
    if not force and not spec.target.extra_body:
        return
    client = make_client(
        spec, target.base_url, model, api_key=api_key, connection_limit=1, tokenizer=None,
        engine=name,
    )  # fmt: skip
    assert isinstance(client, OpenAIClient)  # only an OpenAI-compatible target is probed
    url, headers, body = client.probe_request()
    sent = sent_fields_of(force, spec.target.extra_body, spec.target.stream)
    refused = await check_request_fields(
        url, body, headers=headers, sent_fields=sent, secrets=[api_key] if api_key else []
    )
    if refused is not None:
        evidence = engine.evidence or "named with --engine"
        raise refused_field_error(*refused, sent_fields=sent, detection=Detection(name, evidence))


def _engine_info(outcome: RunOutcome, warmed: int) -> EngineInfo:
    def phase(p: PhaseOutcome | None) -> Phase | None:
        if p is None:
            return None
        duration_s = (p.ended_ns - p.started_ns) / 1e9
        return Phase(sent=p.sent, duration_s=duration_s, stop_reason=p.stop_reason)

    return EngineInfo(
        stop_reason=outcome.stop_reason,
        warmup=phase(outcome.warmup),
        measured=phase(outcome.measured),
        connections_opened_before=warmed,
    )


def _judged_client(client: ClientHealth, parts: RunSummaryParts) -> ClientHealth:
    """The client block with its timestamps' delay weighed against each metric's median."""
    judged = judge_metrics(client.model_dump(mode="json"), parts.summary.model_dump(mode="json"))
    return ClientHealth.model_validate(judged)


class RecordKeeper:
    """Where every finished record goes: appended to records.jsonl and flushed, added to the
    run's column store (compact columns for the summary, not the records themselves), shown."""

    def __init__(
        self,
        writer: RunWriter,
        stop: asyncio.Event,
        on_record: Callable[[ColumnRow], None] | None = None,
    ) -> None:
        self.writer = writer
        self.columns = RunColumns()
        self.tasks: list[TaskRecord] = []
        self._stop = stop
        self._on_record = on_record

    def __call__(self, record: RequestRecord) -> None:
        self.encoded(record_line(record), column_row(record))

    def task(self, task: TaskRecord) -> None:
        """A finished agent task: appended to tasks.jsonl and kept for the summary."""
        if not self.writer.append_task(task):
            self._stop.set()
        self.tasks.append(task)

    def encoded(self, line: bytes, row: ColumnRow) -> None:
        """A record as its line and its row, made here or in a worker process."""
        if not self.writer.append_line(line):
            self._stop.set()  # records can no longer be kept: stop instead of measuring blind
        self.columns.append_row(row)
        if self._on_record is not None:
            self._on_record(row)


async def execute_run(
    spec: RunSpec,
    target: Target,
    output_dir: Path,
    *,
    api_key: str | None = None,
    stop: asyncio.Event | None = None,
    on_record: Callable[[ColumnRow], None] | None = None,
    spec_source: SpecSource | None = None,
) -> RunResult:
    """Runs one spec against one target, writing `output_dir`; returns the final run.json.
    `spec_source` says where the spec came from (spec file and its hash, variables, flags)."""
    model, models, engine = await _resolve_target(spec, target, api_key)
    tokenizer: Tokenizer | None = load_tokenizer(spec.tokenizer) if spec.tokenizer else None
    load = build_load(spec)  # a bad trace fails here, before the results directory exists
    bind_target(load.agent, target.base_url, api_key)  # an agent service's driver
    stop = stop or asyncio.Event()
    with RunWriter(output_dir) as writer:
        run = _initial_run(spec, target, output_dir, model, models, tokenizer, spec_source)
        environment = await _target_environment(spec, target, engine, api_key)
        info = run.target.model_copy(update={"engine": engine, "environment": environment})
        run = run.model_copy(update={"target": info})
        writer.write_run(run)
        sink = RecordKeeper(writer, stop, on_record)
        records = sink.columns
        watch = RunWatch(spec, target.base_url, output_dir, target_pid=target.pid,
                         headers=_auth_headers(spec, api_key))  # fmt: skip
        try:
            async with watch:
                outcome, warmed, client, workers = await drive_load(
                    spec, target, load, model=model, api_key=api_key, tokenizer=tokenizer,
                    target_id=run.target.id, sink=sink, stop=stop, engine=engine.name,
                    task_sink=sink.task,
                )  # fmt: skip
        except DistributedError:
            _mark_failed(writer, run)
            raise
        watched = watch.blocks(_measured_window(outcome))
        origin_ns = run.clock.monotonic_ns_at_start
        evidence = await _evidence(target, sink, watched, watch, origin_ns)
        parts = RunSummaryParts.model_validate(summarize_run(records, seed=spec.seed))
        judged = load.assess(records, parts.summary.duration_s)
        # The judged blocks that were given: `goodput` only with objectives.
        judgement = {name: value for name, value in judged if name in judged.model_fields_set}
        sessions = sessions_block(spec, load.agent, output_dir, sink.tasks)
        interrupted = outcome.stop_reason.value == "interrupted"
        run = run.model_copy(
            update={
                "status": "interrupted" if interrupted else "complete",
                "finished_at": datetime.now(UTC).isoformat(),
                "engine": _engine_info(outcome, warmed),
                "client": client,
                "workers": workers,
                **dict(parts),
                **judgement,
                **watched,
                **evidence,
                **_agent_blocks(spec, sink.tasks),
                **sessions,
            }
        )
        run = run.model_copy(update={"client": _judged_client(client, parts)})
        _finish(writer, run)
    return run


def _agent_blocks(spec: RunSpec, tasks: list[TaskRecord]) -> dict[str, Any]:
    """run.json blocks of agent workloads, from their task records (else no key): `tasks`
    for any, and `agent_loop` for the phone-agent loop."""
    blocks: dict[str, Any] = {}
    if tasks:
        blocks["tasks"] = TaskSummary.model_validate(summarize_tasks(tasks, seed=spec.seed))
    loop = spec.agent_loop
    if loop is not None:
        summary = agent_loop_summary(
            tasks, history=loop.history, markers=loop.markers, seed=spec.seed
        )
        blocks["agent_loop"] = AgentLoopSummary.model_validate(summary)
    return blocks


def _initial_run(
    spec: RunSpec,
    target: Target,
    output_dir: Path,
    model: str,
    models: list[str],
    tokenizer: Tokenizer | None,
    spec_source: SpecSource | None,
) -> RunResult:
    """run.json as written before the load: what runs against what, status `running`."""
    return RunResult(
        run_id=output_dir.name,
        status="running",
        started_at=datetime.now(UTC).isoformat(),
        clock=Clock(monotonic_ns_at_start=time.monotonic_ns()),
        spec=public_spec(spec),
        spec_hash=spec.spec_hash(),
        spec_source=spec_source,
        environment=Environment.model_validate(capture_environment()),
        target=TargetInfo(
            id=target_id_of(spec, target),
            base_url=public_url(target.base_url),
            endpoint=spec.target.endpoint,
            model=model,
            models=models,
            embedded_sim=target.embedded_sim,
            tokenizer=tokenizer.name if tokenizer else None,
            prompts=prompt_tokens(spec, tokenizer, simulated=target.embedded_sim is not None),
        ),
    )


async def drive_load(
    spec: RunSpec,
    target: Target,
    load: LoadPlan,
    *,
    model: str,
    api_key: str | None,
    tokenizer: Tokenizer | None,
    target_id: str,
    sink: RecordSink,
    stop: asyncio.Event,
    engine: str | None = None,
    task_sink: TaskSink | None = None,
) -> tuple[RunOutcome, int, ClientHealth, WorkersInfo]:
    """Runs the load in this process, or over worker processes (`load.workers`): the outcome,
    connections opened before it, the `client` and the `workers` blocks of run.json."""
    cpus = usable_cpus(local_target=target.embedded_sim is not None)
    placement = ray_placement(spec, load)
    requested = spec.ray.workers if placement else spec.load.workers
    n = choose_workers(load, requested=requested, cpus=MAX_WORKERS if placement else cpus)
    info: dict[str, Any] = {"requested": requested, "used": n, "usable_cpus": cpus}
    if n == 1 and placement is None:
        async with (
            make_client(
                spec, target.base_url, model, api_key=api_key,
                connection_limit=load.connection_limit, tokenizer=tokenizer, engine=engine,
            ) as http,
            ClientWatch() as watch,
        ):  # fmt: skip
            warmed = await http.open_connections(load.warm_connections)
            cpu_before_s = time.process_time()
            # An A2AClient goes to its own driver (run/task_protocol.py), which checks it.
            outcome = await load.run(
                cast(Conversant, http), target_id=target_id, sink=sink, stop=stop,
                task_sink=task_sink,
            )  # fmt: skip
            info["cpu_s_load"] = time.process_time() - cpu_before_s
        report = ClientHealth.model_validate(watch.report())
        return outcome, warmed, report, WorkersInfo.model_validate({**info, "processes": 1})
    tasks = [
        WorkerTask(w, n, spec.model_dump_json(), target.base_url, model, target_id, api_key, engine)
        for w in range(n)
    ]
    async with ClientWatch() as watch:  # the parent's own load: reading and writing records
        result = await run_workers(
            tasks, sink=sink, stop=stop, pacing=load.pacing, placement=placement
        )
    skew = {key: result.info[key] for key in ("start_skew_ms", "start_skew_uncertainty_ms")}
    merged = merge_reports(result.health, parent=watch.report())
    nodes = node_health(result.health, result.info["per_worker"])
    client = ClientHealth.model_validate({**merged, **skew, "nodes": nodes})
    workers = WorkersInfo.model_validate({**info, "cpu_s_load": 0.0, **result.info})
    cpu_s = math.fsum(w.cpu_s for w in workers.per_worker or () if w.cpu_s is not None)
    # the workers' CPU; the parent's own is in client.parent
    return result.outcome, result.warmed, client, workers.model_copy(update={"cpu_s_load": cpu_s})


async def _target_environment(
    spec: RunSpec, target: Target, engine: TargetEngine, api_key: str | None
) -> TargetEnvironment:
    """run.json's `target.environment`; an engine detected already is not probed twice, and
    only an OpenAI-compatible target is probed at all (its key goes as a bearer token)."""
    if spec.target.kind != "openai":
        return TargetEnvironment(server_headers=[], version_headers={}, version_endpoint=None)
    detected = engine.source == "detected"
    environment = await describe_target(
        target.base_url, api_key=api_key, extra_headers=spec.target.extra_headers,
        guess_engine=not detected,
    )  # fmt: skip
    if detected:
        guess = {"engine": engine.name, "evidence": engine.evidence}
        environment = environment.model_copy(update={"engine_guess": guess})
    return environment


async def _evidence(
    target: Target, sink: RecordKeeper, watched: dict[str, Any], watch: RunWatch, origin_ns: int
) -> dict[str, Any]:
    """run.json's `cache` and `decomposition` blocks, from the records, tasks and server
    metrics, and for the embedded simulator its log's engine phases (an exact queue / prefill
    split)."""
    metrics, records = watched["server_metrics"], sink.columns
    phases, source = None, None
    if target.embedded_sim is not None:
        phases, source = await read_sim_phases(target.base_url)
    decomposition = decompose(records, metrics, phases, source)
    update: dict[str, Any] = {"tasks": decompose_tasks(sink.tasks)}
    if phases is None and source is not None:  # why the exact split is missing
        update["split_source"] = f"{source}; {decomposition.split_source}"
    decomposition = decomposition.model_copy(update=update)
    return {
        "cache": cache_evidence(records, metrics, watch.running_series(), origin_ns),
        "decomposition": decomposition,
    }


def _auth_headers(spec: RunSpec, api_key: str | None) -> dict[str, str]:
    """Headers of the metrics scrape: the key as a bearer token for an OpenAI-compatible
    target only (another kind's key is for its own API, not /metrics)."""
    bearer = api_key and spec.target.kind == "openai"
    headers = {"Authorization": f"Bearer {api_key}"} if bearer else {}
    return {**headers, **spec.target.extra_headers}


def _measured_window(outcome: RunOutcome) -> tuple[int, int]:
    """The measured phase's monotonic start and end (the whole run without a measured phase)."""
    phase = outcome.measured or outcome.warmup
    return (phase.started_ns, phase.ended_ns) if phase is not None else (0, 2**63 - 1)


def _mark_failed(writer: RunWriter, run: RunResult) -> None:
    with contextlib.suppress(StoreError):  # the same full disk may refuse run.json too
        writer.write_run(run.model_copy(update={"status": "failed"}))


def _finish(writer: RunWriter, run: RunResult) -> None:
    """Writes the final run.json; after a failed record write, marks the run failed and raises."""
    if writer.failure is None:
        writer.write_run(run)
        return
    _mark_failed(writer, run)
    raise writer.failure
