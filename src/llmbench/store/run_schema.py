"""The typed model of run.json (schema_version 1): what a run wrote about itself.

Every block is a frozen model that forbids unknown keys, so a file that does not match is an
error naming the field, never a silent `None`. A field with a default is one that some files
lack (run.json written at start has no summary; `goodput` needs objectives; `workers` and
`parent` need worker processes); the store writes only the fields that were set, so a file
written, read and written again is the same bytes. The JSON Schema in docs/ is generated from
these models (`python -m llmbench.store.schema`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_serializer

from llmbench.clients.scrape import TargetEnvironment
from llmbench.config import RunSpec, SimSpec, ValiditySpec
from llmbench.config.run import EngineName, sim_settings_dump
from llmbench.engine.closed_loop import StopReason
from llmbench.monitor.cache_evidence import CacheEvidence
from llmbench.monitor.decomposition import Decomposition
from llmbench.monitor.processes import Monitors
from llmbench.monitor.server_metrics import ServerMetrics
from llmbench.store.blocks import Block, Distribution, TukeyOutliers
from llmbench.store.node_schema import NodeHealth
from llmbench.store.session_schema import SessionsBlock
from llmbench.store.task_schema import TaskSummary

__all__ = ["Block", "Distribution", "TukeyOutliers"]  # re-exported: defined in store.blocks

RunStatus = Literal["running", "complete", "interrupted", "failed"]


def stored_spec(spec: RunSpec) -> dict[str, Any]:
    """The stored spec with the fields it was given: a spec read from an older file keeps the
    keys it had (a spec field added since reads as its default and is not written back), a spec
    a run resolved has them all (`run.execute.public_spec` validates its full dump)."""
    return spec.model_dump(mode="json", exclude_unset=True)


class RunSummary(Block):
    """One distribution per metric, then the run-level scalars."""

    ttfb_ms: Distribution
    ttft_ms: Distribution
    ttfo_ms: Distribution
    itl_ms: Distribution
    itl_per_token_ms: Distribution
    tpot_ms: Distribution
    ntpot_ms: Distribution
    e2e_ms: Distribution
    tokens_per_chunk: Distribution
    request_output_tokens_per_s: Distribution
    client_lag_ms: Distribution
    scheduled_ttft_ms: Distribution
    scheduled_e2e_ms: Distribution
    input_tokens: Distribution
    output_tokens: Distribution
    output_tokens_per_s: float | None
    requests_per_s: float | None
    duration_s: float | None
    error_rate: float | None
    payload_bytes: Distribution | None = Field(
        None, description="request body bytes as sent; absent from files before it"
    )
    images_per_s: float | None = Field(
        None, description="image parts of ok requests per second; absent from files before it"
    )


class Covers(Block):
    records: int
    warmup: int
    measured: int
    ok: int
    latency_stats_over: str


class Counts(Block):
    ok: int
    error: int
    warmup: int
    by_category: dict[str, int]
    by_http_status: dict[str, int]
    retried: int = Field(description="requests sent more than once (--retry-429)")
    retry_attempts: int = Field(description="the extra attempts, all answered 429")
    # Absent from files written before them:
    no_done: int | None = Field(None, description="ok streams closed without [DONE]")
    reconnected: int | None = Field(None, description="resent once on a fresh connection")


class UsageVsTokenizer(Block):
    n_compared: int
    n_different: int
    mean_abs_diff: float | None
    max_abs_diff: int | None


class RequestedVsGenerated(Block):
    n_compared: int
    n_short: int
    n_long: int
    mean_diff: float | None


class Tokens(Block):
    """Where output counts came from, and how the sources agreed."""

    source_counts: dict[str, int]
    chunk_count_fallback: int
    usage_vs_tokenizer: UsageVsTokenizer
    requested_vs_generated: RequestedVsGenerated


class OutlierEntry(Block):
    n_beyond_1_5: int | None
    n_beyond_3: int | None
    request_ids_beyond_3: list[str]


class RunOutliers(Block):
    ttft_ms: OutlierEntry
    tpot_ms: OutlierEntry
    e2e_ms: OutlierEntry


class LagSummary(Block):
    p50: float | None
    p99: float | None
    max: float | None


class Retries(Block):
    """--retry-429 as the server's back-pressure (files before it lack the block)."""

    requests: int
    extra_attempts: int
    delay_ms: LagSummary = Field(description="last attempt's sent − first attempt's sent")


class OpenLoopDelivery(Block):
    mode: Literal["open_loop"]
    latency_growth: float | None
    requested_rate_per_s: float | None
    planned_rate_per_s: float | None
    achieved_rate_per_s: float | None
    send_lag_ms: LagSummary
    dispatch_lag_ms: LagSummary
    late_sends: int
    waited_for_cap: int
    sends: int
    retries: Retries | None = None


class ClosedLoopDelivery(Block):
    mode: Literal["closed_loop"]
    requested_concurrency: int | None = Field(description="None: a ramp, not checked")
    mean_concurrency: float | None
    send_lag_ms: LagSummary
    sends: int
    retries: Retries | None = None


Delivery = Annotated[OpenLoopDelivery | ClosedLoopDelivery, Field(discriminator="mode")]


class Validity(Block):
    valid: bool
    reasons: list[str]
    thresholds: ValiditySpec


class Goodput(Block):
    objectives_ms: dict[str, float]
    latency_from: Literal["scheduled", "sent"]
    attainment_target: float
    measured: int
    good: int
    good_fraction: float | None
    goodput_per_s: float | None
    missed_by_objective: dict[str, int]
    met: bool


class LoadOutcome(Block):
    """What `LoadPlan.assess` judges: the delivered load and (with objectives) goodput."""

    delivery: Delivery
    validity: Validity
    goodput: Goodput | None = None


class Phase(Block):
    sent: int
    duration_s: float
    stop_reason: StopReason


class EngineInfo(Block):
    stop_reason: StopReason
    warmup: Phase | None
    measured: Phase | None
    connections_opened_before: int


class LoopLag(Block):
    n: int
    p50: float | None
    p99: float | None = Field(description="None below 100 samples (files before: any n)")
    max: float
    # Signed lag (files before clamped early timers to 0 and lack these two).
    min: float | None = None
    early: int | None = Field(None, description="samples whose timer fired early")


class CpuUse(Block):
    window_s: float
    mean_fraction: float | None
    max_fraction: float | None
    busy_s_longest: float
    series: list[float]
    worker_id: int | None = Field(None, description="worker processes: the busiest one")


class WorkerHealthEntry(Block):
    worker_id: int
    pid: int | None
    lost: bool
    saturated: bool
    reasons: list[str]
    loop_lag_ms_p99: float | None
    cpu_mean_fraction: float | None
    cpu_max_fraction: float | None


class MetricTrust(Block):
    median_ms: float
    delay_fraction: float | None = Field(description="timestamp delay / median")
    trustworthy: bool


class Trust(Block):
    """The client's timestamp delay weighed against each metric's median."""

    timestamp_delay_ms: float | None
    basis: str | None
    limit_fraction: float
    metrics: dict[str, MetricTrust]
    affected: list[str]


class ClientHealth(Block):
    """The load generator's own health; `workers` and `parent` with worker processes only.
    The CPU and timestamp-delay fields and `trust` are absent from files written before them."""

    saturated: bool
    reasons: list[str]
    remedy: str | None
    cpu_bound: bool | None = None
    cpu_reasons: list[str] | None = None
    timestamp_delay_ms: float | None = None
    timestamp_delay_basis: str | None = None
    loop_lag_ms: LoopLag | None
    cpu: CpuUse
    workers: list[WorkerHealthEntry] | None = None
    parent: ClientHealth | None = None
    trust: Trust | None = None
    # With worker processes: the spread of the workers' measured start (each on its own clock)
    # and the bound the clock offsets put on it (0 on one host; docs/distributed.md).
    start_skew_ms: float | None = None
    start_skew_uncertainty_ms: float | None = None
    nodes: list[NodeHealth] | None = None  # Ray workers: per node (store/node_schema.py)


class WorkerProcess(Block):
    worker_id: int
    pid: int | None
    exit_code: int | None
    lost: bool
    lost_in_flight: int
    connections_opened_before: int
    cpu_s: float | None
    start_late_ms: float | None = None  # woke this long after the common start (own clock)
    # Ray workers: the node, and its monotonic clock minus the driver's with that estimate's
    # uncertainty (0 and 0 on the driver's host: one clock).
    node: str | None = None
    clock_offset_ns: int | None = None
    clock_uncertainty_ns: int | None = None
    environment: Environment | None = None  # its node's, captured by the worker


class RayCluster(Block):
    """Where `--ray` placed the workers (docs/distributed.md)."""

    address: str
    placement_strategy: str
    nodes: int  # distinct nodes the workers ran on
    ray_version: str
    records_channel: str  # host:port the workers sent their records to


class WorkersInfo(Block):
    requested: int | None
    used: int
    usable_cpus: int
    cpu_s_load: float
    processes: int
    start: Literal["spawn", "ray"] | None = None
    start_skew_ms: float | None = None
    start_skew_uncertainty_ms: float | None = None
    per_worker: list[WorkerProcess] | None = None
    cluster: RayCluster | None = None


class LlmbenchVersion(Block):
    version: str
    git_sha: str | None


class Host(Block):
    hostname: str
    os: str
    cpu_model: str | None
    cpu_logical: int | None
    cpu_physical: int | None
    cpu_affinity: list[int] | None
    memory_total_bytes: int


class PythonInfo(Block):
    version: str
    implementation: str
    executable: str


class Environment(Block):
    """Named facts only: never environment variables."""

    captured_at: str
    llmbench: LlmbenchVersion
    host: Host
    python: PythonInfo
    packages: dict[str, str | None]


class TargetEngine(Block):
    """The serving engine: named by --engine, detected, or the embedded simulator."""

    name: EngineName | None
    source: str | None
    evidence: str | None = None


class PromptTokens(Block):
    """Which tokenizer made the prompts, whether their lengths are exact for this target, and
    the chat template's overhead (docs/spec-files.md, exact-length prompts)."""

    tokenizer: str = Field(description="whitespace (N words) or hf:PATH (cut to N of its tokens)")
    lengths: Literal["exact", "approximate"]
    basis: str = Field(description="why the lengths are exact or approximate")
    chat_template_tokens: int | None = Field(
        description="tokens the chat template adds to a one-user-message chat; null: not measured"
    )
    chat_template: str = Field(description="'measured', 'no chat template', or why not measured")


class TargetInfo(Block):
    id: str
    base_url: str = Field(description="without user:password")
    endpoint: Literal["chat", "completions"]
    model: str
    models: list[str]
    embedded_sim: SimSpec | None
    tokenizer: str | None
    engine: TargetEngine | None = Field(None, description="absent from files before it")
    environment: TargetEnvironment | None = Field(None, description="absent from files before it")
    prompts: PromptTokens | None = Field(None, description="absent from files before it")

    @field_serializer("embedded_sim")
    def _sim(self, sim: SimSpec | None) -> dict[str, Any] | None:
        return None if sim is None else sim_settings_dump(sim)


class SpecSource(Block):
    file: str | None
    file_sha256: str | None
    environment: list[str]
    flags: list[str]


class Clock(Block):
    monotonic_ns_at_start: int


class AgentStepRow(Block):
    """One step index of an agent loop, over the tasks whose model call at it succeeded."""

    step: int
    n: int
    ttft_ms_p50: float | None
    thinking_ms_p50: float | None = Field(description="sent → chunk holding the first marker")
    e2e_ms_p50: float | None
    prompt_tokens_mean: float | None = Field(description="usage.prompt_tokens, else planned")
    payload_bytes_mean: float | None
    images_mean: float | None
    cached_share: float | None = Field(
        description="Σ cached_tokens / Σ prompt_tokens over requests reporting cached_tokens"
    )
    cached_reported: int = Field(description="requests that reported cached_tokens")


class AgentLoopSummary(Block):
    """The phone-agent loop's roll-up (docs/agent-loop.md); measured tasks, censored kept."""

    history: Literal["strip_images", "keep_images"]
    markers: list[str]
    tasks: int
    by_status: dict[str, int]
    censored: dict[str, int] = Field(
        default_factory=dict,
        description="tasks cut before they finished, by why: step_cap, timeout, cancelled",
    )
    steps_per_task: Distribution
    task_completion_ms: Distribution = Field(description="ok tasks: submitted → last step's end")
    task_elapsed_ms: Distribution | None = Field(
        None, description="every ended task; censored ones (step cap, cancel) at the cut"
    )
    model_ms: Distribution = Field(description="per task: Σ model calls (sent → end)")
    actuation_ms: Distribution = Field(description="per task: Σ actuation waits")
    model_share: Distribution = Field(description="per task: model_ms / completion")
    actuation_share: Distribution = Field(description="per task: actuation_ms / completion")
    thinking_ms: Distribution = Field(description="every step: sent → the first marker's chunk")
    per_step: list[AgentStepRow]


class RunSummaryParts(Block):
    """What `summarize_run` computes from the records."""

    covers: Covers
    counts: Counts
    summary: RunSummary
    tokens: Tokens
    outliers: RunOutliers


class RunResult(Block):
    """run.json. Written at start (status `running`, up to `target`) and at the end."""

    schema_version: Literal[2] = 2  # the store writes it first, whatever was set
    run_id: str
    status: RunStatus
    started_at: str = Field(description="ISO 8601 UTC")
    clock: Clock
    spec: RunSpec
    spec_hash: str
    spec_source: SpecSource | None
    environment: Environment
    target: TargetInfo
    finished_at: str | None = None
    engine: EngineInfo | None = None
    client: ClientHealth | None = None
    workers: WorkersInfo | None = None
    covers: Covers | None = None
    counts: Counts | None = None
    summary: RunSummary | None = None
    tokens: Tokens | None = None
    outliers: RunOutliers | None = None
    delivery: Delivery | None = None
    validity: Validity | None = None
    goodput: Goodput | None = None
    # What the target was doing (issue 13); absent from files before them.
    server_metrics: ServerMetrics | None = None
    monitors: Monitors | None = None
    cache: CacheEvidence | None = None
    decomposition: Decomposition | None = None
    # Agent workloads (DAG tasks, agent loops, task APIs): their tasks.jsonl summarized.
    tasks: TaskSummary | None = None
    sessions: SessionsBlock | None = None
    agent_loop: AgentLoopSummary | None = None  # issue 11; absent from files before it

    @field_serializer("spec")
    def _spec(self, spec: RunSpec) -> dict[str, Any]:
        return stored_spec(spec)
