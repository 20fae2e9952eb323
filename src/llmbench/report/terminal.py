"""The terminal summary of one run, built from run.json alone (so `llmbench report DIR` shows
exactly what the run showed). Returns rich renderables; the CLI prints them.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from llmbench.report.load import SCHEDULED_ROWS, load_lines

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


def _row(label: str, stats: dict[str, Any]) -> list[str]:
    ci = stats.get("mean_ci")
    outliers = stats.get("outliers") or {}
    mild, extreme = outliers.get("n_beyond_1_5"), outliers.get("n_beyond_3")
    return [
        label,
        _num(stats.get("n")),
        _num(stats.get("mean")),
        f"{_num(ci[0])}–{_num(ci[1])}" if ci else "–",
        *(_num(stats.get(k)) for k in ("p50", "p90", "p95", "p99", "max")),
        _num(stats.get("spread_p5_p95")),
        "–" if mild is None else f"{mild} / {extreme}",
    ]


def latency_table(run: dict[str, Any]) -> Table:
    summary = run.get("summary", {})
    table = Table(
        title=f"Latency (ms) over {_coverage(run)}",
        caption=LEGEND,
        caption_justify="left",
        title_justify="left",
    )
    table.add_column("metric", style="bold", no_wrap=True)
    for column in COLUMNS:
        table.add_column(column, justify="right", no_wrap=True)
    open_loop = (run.get("delivery") or {}).get("mode") == "open_loop"
    for key, label in LATENCY_ROWS + (SCHEDULED_ROWS if open_loop else ()):
        stats = summary.get(key)
        if stats and stats.get("n"):
            table.add_row(*_row(label, stats))
    return table


def _coverage(run: dict[str, Any]) -> str:
    """Which requests the latency rows describe, with the ones they leave out counted."""
    covers = str(run.get("covers", {}).get("latency_stats_over", "ok requests"))
    counts = run.get("counts")
    if not counts:
        return covers
    left_out = f"{counts.get('error', 0)} failed"
    if counts.get("warmup"):
        left_out += f", {counts['warmup']} warm-up"
    return f"{counts.get('ok', 0)} {covers} (not in them: {left_out})"


def _success(counts: dict[str, Any]) -> str:
    total = counts.get("ok", 0) + counts.get("error", 0)
    return f"success {100 * counts.get('ok', 0) / total:.1f}%, " if total else ""


def _throughput_line(run: dict[str, Any]) -> Text:
    summary = run.get("summary", {})
    counts = run.get("counts", {})
    by_category = counts.get("by_category") or {}
    errors = ", ".join(f"{k} {v}" for k, v in sorted(by_category.items())) or "none"
    return Text.assemble(
        ("requests ", "bold"),
        f"{_success(counts)}ok {counts.get('ok', 0)}, errors {counts.get('error', 0)} "
        f"({errors}), warm-up {counts.get('warmup', 0)}{_retries(counts)}{_stream_ends(counts)}   ",
        ("throughput ", "bold"),
        f"{_num(summary.get('requests_per_s'), 2)} req/s, "
        f"{_num(summary.get('output_tokens_per_s'))} output tok/s "
        f"over {_num(summary.get('duration_s'), 2)} s",
    )


_VARIED = ("input_tokens_stddev", "output_tokens_stddev", "input_mix", "output_mix")


def _lengths_line(run: dict[str, Any]) -> list[Text]:
    """Per-request lengths as drawn: latency pools them, so the spread is shown beside it."""
    workload = (run.get("spec") or {}).get("workload") or {}
    if not any(workload.get(key) for key in _VARIED):
        return []
    summary = run.get("summary") or {}
    parts = []
    for side in ("input", "output"):
        stats = summary.get(f"{side}_tokens") or {}
        parts.append(
            f"{side} mean {_num(stats.get('mean'), 1)}, P50 {_num(stats.get('p50'), 0)}, "
            f"range {_num(stats.get('min'), 0)}–{_num(stats.get('max'), 0)}"
        )
    return [
        Text.assemble(
            ("lengths per request ", "bold"),
            "; ".join(parts) + " tokens (latency pools them: docs/metrics.md)",
        )
    ]


def _retries(counts: dict[str, Any]) -> str:
    if not counts.get("retried"):
        return ""
    return f", retried after 429: {counts['retried']} ({counts['retry_attempts']} extra attempts)"


def _stream_ends(counts: dict[str, Any]) -> str:
    """Streams complete without `[DONE]`, and requests resent after a dead pooled connection:
    both ok, both worth knowing (docs/reliability.md)."""
    notes = ""
    if counts.get("no_done"):
        notes += f", ended after finish_reason without [DONE]: {counts['no_done']}"
    if counts.get("reconnected"):
        notes += f", resent on a fresh connection: {counts['reconnected']}"
    return notes


def _token_warnings(run: dict[str, Any]) -> list[Text]:
    tokens = run.get("tokens") or {}
    notes: list[Text] = []
    if tokens.get("chunk_count_fallback"):
        notes.append(
            Text(
                f"! {tokens['chunk_count_fallback']} requests counted output tokens from chunks "
                "(no server usage, no tokenizer): token metrics are approximate; "
                "use --tokenizer or a server that reports usage",
                style="yellow",
            )
        )
    mismatch = tokens.get("requested_vs_generated") or {}
    if mismatch.get("n_short") or mismatch.get("n_long"):
        notes.append(
            Text(
                f"! generated length differs from requested: {mismatch.get('n_short', 0)} short, "
                f"{mismatch.get('n_long', 0)} long (--force-length sends the engine's fields "
                "for fixed lengths: docs/engines.md)",
                style="yellow",
            )
        )
    usage_tok = tokens.get("usage_vs_tokenizer") or {}
    if usage_tok.get("n_different"):
        notes.append(
            Text(
                f"! server usage and client tokenizer disagree on {usage_tok['n_different']} of "
                f"{usage_tok['n_compared']} requests (max |diff| {usage_tok.get('max_abs_diff')})",
                style="yellow",
            )
        )
    return notes


def run_header(run: dict[str, Any]) -> Text:
    target = run.get("target", {})
    load = run.get("spec", {}).get("load", {})
    status = run.get("status", "unknown")
    style = "green" if status == "complete" else "yellow"
    return Text.assemble(
        ("run ", "bold"),
        f"{run.get('run_id', '?')}  ",
        (f"[{status}]", style),
        f"  target {target.get('id')} {target.get('base_url')} model {target.get('model')} "
        f"({target.get('endpoint')})  load {load.get('profile')} "
        + (f"rate={load['rate']:g}/s" if load.get("rate") else f"c={load.get('concurrency')}")
        + (f"  workers {processes}" if (processes := _processes(run)) > 1 else ""),
    )


def _processes(run: dict[str, Any]) -> int:
    return int((run.get("workers") or {}).get("processes") or 1)


def _worker_warnings(run: dict[str, Any]) -> list[Text]:
    """A worker process that died: its in-flight requests were counted, its share not sent."""
    lines = []
    for worker in (run.get("workers") or {}).get("per_worker", []):
        if worker.get("lost"):
            lines.append(
                Text(
                    f"! worker {worker['worker_id']} (pid {worker['pid']}) died (exit code "
                    f"{worker['exit_code']}): {worker['lost_in_flight']} in-flight requests "
                    "counted as worker_lost errors; the rest of its share was not sent",
                    style="bold red",
                )
            )
    return lines


def _client_warnings(run: dict[str, Any]) -> list[Text]:
    client = run.get("client") or {}
    lines = _worker_warnings(run)
    if "trust" in client:
        return lines + _trust_lines(client)
    if not client.get("saturated"):  # a run.json from before per-metric trust
        return lines
    lines.append(
        Text("! the client was saturated: these numbers are not trustworthy", style="bold red")
    )
    lines += [Text(f"  - {reason}", style="red") for reason in client.get("reasons", [])]
    lines.append(Text(f"  what to do: {client.get('remedy')}", style="red"))
    return lines


_LABELS = {"ttfb_ms": "TTFB", "ttft_ms": "TTFT", "ttfo_ms": "TTFO", "itl_ms": "ITL",
           "tpot_ms": "TPOT", "e2e_ms": "E2E"}  # fmt: skip


def _affected(key: str, metric: dict[str, Any]) -> str:
    fraction = metric.get("delay_fraction")
    share = "all of it" if fraction is None else f"up to {fraction:.0%} off"
    return f"{_LABELS.get(key, key)} (median {_num(metric['median_ms'])} ms, {share})"


def _trust_lines(client: dict[str, Any]) -> list[Text]:
    """CPU-bound (every number suspect) apart from a host delaying the client's timestamps
    by about X ms (only metrics whose median is not far above X are suspect)."""
    trust = client["trust"]
    delay, metrics = trust.get("timestamp_delay_ms"), trust.get("metrics") or {}
    lines: list[Text] = []
    if client.get("cpu_bound"):
        lines.append(
            Text("! the client was CPU-bound: these numbers are not trustworthy", style="bold red")
        )
        lines += [Text(f"  - {reason}", style="red") for reason in client.get("cpu_reasons", [])]
    affected = trust.get("affected") or []
    fine = [_LABELS.get(k, k) for k in metrics if k not in affected]
    if affected:
        named = ", ".join(_affected(k, metrics[k]) for k in affected)
        lines.append(
            Text(
                f"! the host delayed the client's timestamps by about {_num(delay)} ms: "
                f"{named} not trustworthy"
                + (
                    f"; {', '.join(fine)} trustworthy (under "
                    f"{trust['limit_fraction']:.0%} of their medians)"
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
                f"{trust['limit_fraction']:.0%} of every metric's median, numbers trustworthy",
                style="dim",
            )
        )
    if client.get("cpu_bound") or affected:
        lines.append(Text(f"  what to do: {client.get('remedy')}", style="red"))
    return lines


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def _server_metrics_line(run: dict[str, Any]) -> list[Text]:
    """Where server metrics came from (or why none) and the window's key deltas."""
    block = run.get("server_metrics")
    if not block:
        return []
    if block["status"] == "off":
        return [Text(f"server metrics off ({block['source']}): {block['reason']}", style="dim")]
    if block.get("engine") is None:
        return [Text(f"server metrics {block['url']}: {block['reason']}", style="dim")]
    who = block["engine"] + (" names, the llmbench simulator" if block.get("simulator") else "")
    parts = [f"server metrics ({who}) {block['url']}, {block['scrapes']} scrapes"]
    failed = sum(block.get("failures", {}).values())
    if failed:
        parts[0] += f" ({failed} failed)"
    means = [
        f"{label} {_num(h['mean'] * 1e3)} ms"
        for key, label in (
            ("queue_time_s", "queue"),
            ("prefill_time_s", "prefill"),
            ("decode_time_s", "decode"),
        )
        if (h := block["histograms"].get(key)) and h.get("mean") is not None
    ]
    if means:
        parts.append("mean " + ", ".join(means))
    if running := block["gauges"].get("requests_running"):
        parts.append(f"running mean {_num(running['mean'])} max {_num(running['max'])}")
    counters = block["counters"]
    if block.get("prefix_cache_hit_rate") is not None:
        usage = (run.get("cache") or {}).get("usage", {}).get("cached_token_share")
        parts.append(f"prefix hits {_pct(block['prefix_cache_hit_rate'])} (usage {_pct(usage)})")
    if counters.get("preemptions") is not None:
        parts.append(f"preemptions {_num(counters['preemptions'], 0)}")
    return [Text("; ".join(parts))]


def _monitors_line(run: dict[str, Any]) -> list[Text]:
    """Mean/max CPU (% of one core) of client and target, the host's, and the GPU's."""
    block = run.get("monitors")
    if not block:
        return []
    parts = []
    for key, label in (("client", "client"), ("target", "target"), ("host", "host")):
        cpu = (block.get(key) or {}).get("cpu_percent")
        if cpu:
            parts.append(f"{label} CPU {cpu['mean']:.0f}/{cpu['max']:.0f}%")
    gpu = block.get("gpu")
    if isinstance(gpu, list):
        for device in gpu:
            util = device.get("util_percent") or {}
            parts.append(f"GPU{device['index']} {_num(util.get('mean'))}/{_num(util.get('max'))}%")
    else:
        parts.append("GPU none")
    line = "monitors (mean/max) " + ", ".join(parts)
    cold = (run.get("cache") or {}).get("cold_start") or {}
    if cold.get("detected"):
        line += (
            f"; cold start: the first {cold['change_at_request']} requests' {cold['metric']} "
            f"{_num(cold['ratio'])}x the steady median"
        )
    return [Text(line, style="dim")]


def run_summary(run: dict[str, Any], warnings: list[str] | None = None) -> RenderableType:
    parts: list[RenderableType] = [run_header(run), latency_table(run), _throughput_line(run)]
    parts += _lengths_line(run)
    parts += _server_metrics_line(run) + _monitors_line(run)
    parts += _client_warnings(run)
    parts += load_lines(run)
    parts += _token_warnings(run)
    parts += [Text(f"! {w}", style="yellow") for w in warnings or []]
    return Group(*parts)


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
