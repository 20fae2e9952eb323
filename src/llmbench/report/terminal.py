"""The terminal summary of one run, built from run.json alone (so `llmbench report DIR` shows
exactly what the run showed). Returns rich renderables; the CLI prints them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from llmbench.report.agent_loop import agent_loop_lines, payload_line
from llmbench.report.load import SCHEDULED_ROWS, load_described, load_lines
from llmbench.report.nodes import node_lines
from llmbench.report.sessions import session_lines
from llmbench.report.tasks import task_lines
from llmbench.store.run_schema import (
    ClientHealth,
    Counts,
    Distribution,
    MetricTrust,
    OpenLoopDelivery,
    RunResult,
    RunSummaryParts,
    Tokens,
    Trust,
)

# (summary key, label): latency rows in the order a reader asks about them.
LATENCY_ROWS = (
    ("ttft_ms", "TTFT"),
    ("ttfo_ms", "TTFO"),
    ("ttfb_ms", "TTFB"),
    ("itl_ms", "ITL"),
    ("itl_per_token_ms", "ITL/token"),
    ("tpot_ms", "TPOT"),
    ("ntpot_ms", "NTPOT"),
    ("e2e_ms", "E2E"),
    ("client_lag_ms", "send lag"),
)
LEGEND = (
    "TTFT first token, TTFO first visible token, TTFB headers, ITL gaps between chunks, "
    "TPOT (E2E−TTFT)/(tokens−1), NTPOT E2E/tokens, send lag sent−scheduled. "
    "outliers: beyond Tukey 1.5/3·IQR fences (flagged, never dropped). –: not applicable or "
    "too few samples for that percentile"
)
LAG_NOTE_MS = 1.0  # a timestamp delay worth a note even when no metric is affected
COLUMNS = ("n", "mean", "95% CI", "P50", "P90", "P95", "P99", "max", "P5–P95", "outliers")


def _num(value: Any, digits: int | None = None) -> str:
    """Ints as they are; floats with 2 decimals below 10 and 1 above unless told."""
    if value is None:
        return "–"
    if isinstance(value, int):
        return str(value)
    if digits is None:
        digits = 2 if abs(value) < 10 else 1
    return f"{value:,.{digits}f}"


@dataclass(frozen=True, slots=True)
class RunView:
    """What the summary shows: run.json (None when it is missing) and the statistics, from
    run.json or recomputed from the records of a run that died before writing them."""

    run: RunResult | None
    parts: RunSummaryParts | None
    status: str
    label: str = "?"  # without run.json: the header's run name, then what follows the status
    detail: str = ""

    @classmethod
    def of(cls, run: RunResult) -> RunView:
        return cls(run, _stored_parts(run), run.status)


def _stored_parts(run: RunResult) -> RunSummaryParts | None:
    blocks = {name: value for name, value in run if name in RunSummaryParts.model_fields}
    if any(block is None for block in blocks.values()):
        return None
    return RunSummaryParts(**blocks)


def _row(label: str, stats: Distribution) -> list[str]:
    ci = stats.mean_ci
    outliers = stats.outliers
    mild = outliers.n_beyond_1_5 if outliers else None
    extreme = outliers.n_beyond_3 if outliers else None
    return [
        label,
        _num(stats.n),
        _num(stats.mean),
        f"{_num(ci[0])}–{_num(ci[1])}" if ci else "–",
        *(_num(v) for v in (stats.p50, stats.p90, stats.p95, stats.p99, stats.max)),
        _num(stats.spread_p5_p95),
        "–" if mild is None else f"{mild} / {extreme}",
    ]


def latency_table(view: RunView) -> Table:
    table = Table(
        title=f"Latency (ms) over {_coverage(view.parts)}",
        caption=LEGEND,
        caption_justify="left",
        title_justify="left",
    )
    table.add_column("metric", style="bold", no_wrap=True)
    for column in COLUMNS:
        table.add_column(column, justify="right", no_wrap=True)
    if view.parts is None:
        return table
    open_loop = view.run is not None and isinstance(view.run.delivery, OpenLoopDelivery)
    summary = view.parts.summary
    for key, label in LATENCY_ROWS + (SCHEDULED_ROWS if open_loop else ()):
        stats: Distribution = getattr(summary, key)
        if stats.n:
            table.add_row(*_row(label, stats))
    return table


def _coverage(parts: RunSummaryParts | None) -> str:
    """Which requests the latency rows describe, with the ones they leave out counted."""
    if parts is None:
        return "ok requests"
    counts = parts.counts
    left_out = f"{counts.error} failed"
    if counts.warmup:
        left_out += f", {counts.warmup} warm-up"
    return f"{counts.ok} {parts.covers.latency_stats_over} (not in them: {left_out})"


def _success(counts: Counts) -> str:
    total = counts.ok + counts.error
    return f"success {100 * counts.ok / total:.1f}%, " if total else ""


def _throughput_line(parts: RunSummaryParts) -> Text:
    summary, counts = parts.summary, parts.counts
    errors = ", ".join(f"{k} {v}" for k, v in sorted(counts.by_category.items())) or "none"
    return Text.assemble(
        ("requests ", "bold"),
        f"{_success(counts)}ok {counts.ok}, errors {counts.error} "
        f"({errors}), warm-up {counts.warmup}{_retries(counts)}{_stream_ends(counts)}   ",
        ("throughput ", "bold"),
        f"{_num(summary.requests_per_s, 2)} req/s, "
        f"{_num(summary.output_tokens_per_s)} output tok/s "
        f"over {_num(summary.duration_s, 2)} s",
    )


_VARIED = ("input_tokens_stddev", "output_tokens_stddev", "input_mix", "output_mix")


def _lengths_line(view: RunView) -> list[Text]:
    """Per-request lengths as drawn: latency pools them, so the spread is shown beside it."""
    if view.run is None or view.parts is None:
        return []
    workload = view.run.spec.workload
    if not any(getattr(workload, key) for key in _VARIED):
        return []
    summary = view.parts.summary
    parts = []
    for stats, side in ((summary.input_tokens, "input"), (summary.output_tokens, "output")):
        parts.append(
            f"{side} mean {_num(stats.mean, 1)}, P50 {_num(stats.p50, 0)}, "
            f"range {_num(stats.min, 0)}–{_num(stats.max, 0)}"
        )
    return [
        Text.assemble(
            ("lengths per request ", "bold"),
            "; ".join(parts) + " tokens (latency pools them: docs/metrics.md)",
        )
    ]


def _retries(counts: Counts) -> str:
    if not counts.retried:
        return ""
    return f", retried after 429: {counts.retried} ({counts.retry_attempts} extra attempts)"


def _stream_ends(counts: Counts) -> str:
    """Streams complete without `[DONE]`, and requests resent after a dead pooled connection:
    both ok, both worth knowing (docs/reliability.md)."""
    notes = ""
    if counts.no_done:
        notes += f", ended after finish_reason without [DONE]: {counts.no_done}"
    if counts.reconnected:
        notes += f", resent on a fresh connection: {counts.reconnected}"
    return notes


def _token_warnings(tokens: Tokens) -> list[Text]:
    notes: list[Text] = []
    if tokens.chunk_count_fallback:
        notes.append(
            Text(
                f"! {tokens.chunk_count_fallback} requests counted output tokens from chunks "
                "(no server usage, no tokenizer): token metrics are approximate; "
                "use --tokenizer or a server that reports usage",
                style="yellow",
            )
        )
    mismatch = tokens.requested_vs_generated
    if mismatch.n_short or mismatch.n_long:
        notes.append(
            Text(
                f"! generated length differs from requested: {mismatch.n_short} short, "
                f"{mismatch.n_long} long (--force-length sends the engine's fields "
                "for fixed lengths: docs/engines.md)",
                style="yellow",
            )
        )
    usage_tok = tokens.usage_vs_tokenizer
    if usage_tok.n_different:
        notes.append(
            Text(
                f"! server usage and client tokenizer disagree on {usage_tok.n_different} of "
                f"{usage_tok.n_compared} requests (max |diff| {usage_tok.max_abs_diff})",
                style="yellow",
            )
        )
    return notes


def run_header(view: RunView) -> Text:
    style = "green" if view.status == "complete" else "yellow"
    run = view.run
    if run is None:
        return Text.assemble(("run ", "bold"), f"{view.label}  ", (f"[{view.status}]", style),
                             view.detail)  # fmt: skip
    target = run.target
    kind = run.spec.target.kind
    protocol = target.endpoint if kind == "openai" else kind  # anthropic, a2a, ...
    return Text.assemble(
        ("run ", "bold"),
        f"{run.run_id}  ",
        (f"[{view.status}]", style),
        f"  target {target.id} {target.base_url} model {target.model} "
        f"({protocol})  " + load_described(run.spec) + _workers_text(run),
    )


def _workers_text(run: RunResult) -> str:
    """`workers N`; on Ray, its nodes and the measured start skew too."""
    workers = run.workers
    n = workers.processes if workers is not None else 1
    if workers is None or workers.cluster is None:
        return f"  workers {n}" if n > 1 else ""
    skew = "–" if workers.start_skew_ms is None else f"{workers.start_skew_ms:.3f}"
    return f"  workers {n} on Ray ({workers.cluster.nodes} nodes, start skew {skew} ms)"


def _worker_warnings(run: RunResult) -> list[Text]:
    """A worker process that died: its in-flight requests were counted, its share not sent."""
    lines = []
    for worker in (run.workers.per_worker if run.workers else None) or []:
        if worker.lost:  # a Ray actor's exit code is not known
            code = "" if worker.exit_code is None else f" (exit code {worker.exit_code})"
            lines.append(
                Text(
                    f"! worker {worker.worker_id} (pid {worker.pid}) died{code}: "
                    f"{worker.lost_in_flight} in-flight requests "
                    "counted as worker_lost errors; the rest of its share was not sent",
                    style="bold red",
                )
            )
    return lines


def _client_warnings(run: RunResult | None) -> list[Text]:
    if run is None or run.client is None:
        return []
    client = run.client
    lines = _worker_warnings(run)
    if client.trust is not None:
        return lines + _trust_lines(client, client.trust)
    if not client.saturated:  # a run.json from before per-metric trust
        return lines
    lines.append(
        Text("! the client was saturated: these numbers are not trustworthy", style="bold red")
    )
    lines += [Text(f"  - {reason}", style="red") for reason in client.reasons]
    lines.append(Text(f"  what to do: {client.remedy}", style="red"))
    return lines


_LABELS = {"ttfb_ms": "TTFB", "ttft_ms": "TTFT", "ttfo_ms": "TTFO", "itl_ms": "ITL",
           "tpot_ms": "TPOT", "e2e_ms": "E2E"}  # fmt: skip


def _affected(key: str, metric: MetricTrust) -> str:
    fraction = metric.delay_fraction
    share = "all of it" if fraction is None else f"up to {fraction:.0%} off"
    return f"{_LABELS.get(key, key)} (median {_num(metric.median_ms)} ms, {share})"


def _trust_lines(client: ClientHealth, trust: Trust) -> list[Text]:
    """CPU-bound (every number suspect) apart from a host delaying the client's timestamps
    by about X ms (only metrics whose median is not far above X are suspect)."""
    delay, metrics = trust.timestamp_delay_ms, trust.metrics
    lines: list[Text] = []
    if client.cpu_bound:
        lines.append(
            Text("! the client was CPU-bound: these numbers are not trustworthy", style="bold red")
        )
        lines += [Text(f"  - {reason}", style="red") for reason in client.cpu_reasons or []]
    affected = trust.affected
    fine = [_LABELS.get(k, k) for k in metrics if k not in affected]
    if affected:
        named = ", ".join(_affected(k, metrics[k]) for k in affected)
        lines.append(
            Text(
                f"! the host delayed the client's timestamps by about {_num(delay)} ms: "
                f"{named} not trustworthy"
                + (
                    f"; {', '.join(fine)} trustworthy (under "
                    f"{trust.limit_fraction:.0%} of their medians)"
                    if fine
                    else ""
                ),
                style="bold red",
            )
        )
    elif delay is not None and delay >= LAG_NOTE_MS:
        lines.append(
            Text(
                f"  the host delayed the client's timestamps by about {_num(delay)} ms: under "
                f"{trust.limit_fraction:.0%} of every metric's median, numbers trustworthy",
                style="dim",
            )
        )
    if client.cpu_bound or affected:
        lines.append(Text(f"  what to do: {client.remedy}", style="red"))
    return lines


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def _server_metrics_line(run: RunResult | None) -> list[Text]:
    """Where server metrics came from (or why none) and the window's key deltas."""
    block = run.server_metrics if run is not None else None
    if block is None:
        return []
    if block.status == "off":
        return [Text(f"server metrics off ({block.source}): {block.reason}", style="dim")]
    if block.engine is None:
        return [Text(f"server metrics {block.url}: {block.reason}", style="dim")]
    who = block.engine + (" names, the llmbench simulator" if block.simulator else "")
    if block.engine == "llmbench-sim":  # the fixed-timing simulator: only what it received
        who = "the llmbench simulator"
    parts = [f"server metrics ({who}) {block.url}, {block.scrapes} scrapes"]
    if (received := block.counters.get("requests_received")) is not None:
        parts.append(f"it received {_num(received, 0)} requests in the measured window")
    failed = sum(block.failures.values())
    if failed:
        parts[0] += f" ({failed} failed)"
    means = [
        f"{label} {_num(h.mean * 1e3)} ms"
        for key, label in (
            ("queue_time_s", "queue"),
            ("prefill_time_s", "prefill"),
            ("decode_time_s", "decode"),
        )
        if (h := block.histograms.get(key)) is not None and h.mean is not None
    ]
    if means:
        parts.append("mean " + ", ".join(means))
    if running := block.gauges.get("requests_running"):
        parts.append(f"running mean {_num(running.mean)} max {_num(running.max)}")
    counters = block.counters
    if block.prefix_cache_hit_rate is not None:
        usage = run.cache.usage.cached_token_share if run and run.cache else None
        parts.append(f"prefix hits {_pct(block.prefix_cache_hit_rate)} (usage {_pct(usage)})")
    if counters.get("preemptions") is not None:
        parts.append(f"preemptions {_num(counters['preemptions'], 0)}")
    return [Text("; ".join(parts))]


def _monitors_line(run: RunResult | None) -> list[Text]:
    """Mean/max CPU (% of one core) of client and target, the host's, and the GPU's."""
    block = run.monitors if run is not None else None
    if block is None:
        return []
    parts = []
    for label, stats in (("client", block.client), ("target", block.target), ("host", block.host)):
        cpu = (stats or {}).get("cpu_percent")
        if cpu:
            parts.append(f"{label} CPU {cpu.mean:.0f}/{cpu.max:.0f}%")
    gpu = block.gpu
    if isinstance(gpu, list):
        for device in gpu:
            util = device.util_percent
            mean, peak = (util.mean, util.max) if util is not None else (None, None)
            parts.append(f"GPU{device.index} {_num(mean)}/{_num(peak)}%")
    else:
        parts.append("GPU none")
    line = "monitors (mean/max) " + ", ".join(parts)
    cold = run.cache.cold_start if run is not None and run.cache is not None else None
    if cold is not None and cold.detected:
        line += (
            f"; cold start: the first {cold.change_at_request} requests' {cold.metric} "
            f"{_num(cold.ratio)}x the steady median"
        )
    return [Text(line, style="dim")]


def _prompts_line(run: RunResult | None) -> list[Text]:
    """Only when a tokenizer other than whitespace is involved: word prompts to the simulator
    need no note, and the plain runs' output stays as it was."""
    prompts = run.target.prompts if run is not None else None
    if prompts is None or (
        prompts.tokenizer == "whitespace" and prompts.chat_template_tokens is None
    ):
        return []
    template = (
        f"chat template adds {prompts.chat_template_tokens} tokens"
        if prompts.chat_template_tokens is not None
        else prompts.chat_template
    )
    return [
        Text(
            f"prompts: {prompts.lengths} lengths under {prompts.tokenizer}; {template}", style="dim"
        )
    ]


def run_summary(view: RunView | RunResult, warnings: list[str] | None = None) -> RenderableType:
    if isinstance(view, RunResult):
        view = RunView.of(view)
    parts: list[RenderableType] = [run_header(view)]
    if _tasks_only(view.run):  # a task protocol's run has tasks, not requests: no empty table
        parts.append(Text("no request records: the target speaks a task protocol (tasks below)"))
    else:
        parts.append(latency_table(view))
        parts += session_lines(view.run)
        if view.parts is not None:
            parts.append(_throughput_line(view.parts))
        parts += _lengths_line(view) + payload_line(view.run) + agent_loop_lines(view.run)
    parts += task_lines(view.run)
    parts += _server_metrics_line(view.run) + _monitors_line(view.run) + node_lines(view.run)
    parts += _client_warnings(view.run)
    parts += _prompts_line(view.run)
    # the delivered load is measured over requests: a task protocol's run has none
    parts += load_lines(view.run) if view.run is not None and not _tasks_only(view.run) else []
    parts += _token_warnings(view.parts.tokens) if view.parts is not None else []
    parts += [Text(f"! {w}", style="yellow") for w in warnings or []]
    return Group(*parts)


def _tasks_only(run: RunResult | None) -> bool:
    """An agent service's run (its tasks have a `service` block), or a task-protocol target
    (a2a, manus, task-api) that made no request records: its numbers are the tasks'."""
    if run is None or run.tasks is None:
        return False
    if run.tasks.service is not None:
        return True
    if run.spec.target.kind in ("openai", "anthropic"):
        return False
    return run.counts is None or run.counts.ok + run.counts.error == 0


def three_sigma_table(views: dict[str, Any]) -> Table:
    """What the seed article's 3σ rule would drop, per metric: a view, never applied."""
    table = Table(
        title="3σ view: values beyond mean ± 3·std (shown, not removed from any result), over "
        + str(views.get("latency_stats_over", "ok requests")),
        title_justify="left",
    )
    for column in ("metric", "n", "mean", "std", "band", "would drop", "mean after", "P99 after"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for key, view in views.items():
        if not isinstance(view, dict):
            continue
        after = view.get("after") or {}
        lo, hi = view.get("lo"), view.get("hi")
        table.add_row(
            key,
            _num(after.get("n", 0) + (view.get("n_dropped") or 0)),
            _num(view.get("mean")),
            _num(view.get("std")),
            "–" if lo is None else f"{_num(lo)}–{_num(hi)}",
            _num(view.get("n_dropped")),
            _num(after.get("mean")),
            _num(after.get("p99")),
        )
    return table
