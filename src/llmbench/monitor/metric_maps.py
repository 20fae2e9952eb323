"""Which Prometheus names each serving engine gives the fields llmbench reports: requests
running and waiting, KV-cache usage, prefix-cache queries and hits, preemptions, and the
per-request histograms. Names come from each engine's documentation (docs/metrics.md lists
them with their sources); a field an engine lacks is absent from its map, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

GAUGES = ("requests_running", "requests_waiting", "kv_cache_usage")
COUNTERS = ("prefix_cache_queries", "prefix_cache_hits", "preemptions", "prompt_tokens",
            "generation_tokens", "requests_finished")  # fmt: skip
HISTOGRAMS = ("queue_time_s", "prefill_time_s", "decode_time_s", "ttft_s", "e2e_s")


@dataclass(frozen=True, slots=True)
class NameMap:
    """Field → candidate metric names, first present wins (engines rename between versions).
    Counter names are the exposed sample names (with `_total`); histogram names are the
    family name, read through its `_bucket`, `_sum` and `_count` samples."""

    engine: str
    label: str
    marker: str  # a prefix only this engine's metric names carry
    gauges: dict[str, tuple[str, ...]] = field(default_factory=dict)
    counters: dict[str, tuple[str, ...]] = field(default_factory=dict)
    histograms: dict[str, tuple[str, ...]] = field(default_factory=dict)


VLLM = NameMap(
    "vllm",
    "vLLM",
    "vllm:",
    gauges={
        "requests_running": ("vllm:num_requests_running",),
        "requests_waiting": ("vllm:num_requests_waiting",),
        "kv_cache_usage": ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
    },
    counters={
        "prefix_cache_queries": (
            "vllm:prefix_cache_queries_total",
            "vllm:gpu_prefix_cache_queries_total",
        ),
        "prefix_cache_hits": ("vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total"),
        "preemptions": ("vllm:num_preemptions_total",),
        "prompt_tokens": ("vllm:prompt_tokens_total",),
        "generation_tokens": ("vllm:generation_tokens_total",),
        "requests_finished": ("vllm:request_success_total",),
    },
    histograms={
        "queue_time_s": ("vllm:request_queue_time_seconds",),
        "prefill_time_s": ("vllm:request_prefill_time_seconds",),
        "decode_time_s": ("vllm:request_decode_time_seconds",),
        "ttft_s": ("vllm:time_to_first_token_seconds",),
        "e2e_s": ("vllm:e2e_request_latency_seconds",),
    },
)

# SGLang counts cached prompt tokens (`cached_tokens_total`) and all prompt tokens; the hit rate
# is their ratio, as its own `cache_hit_rate` gauge is.
SGLANG = NameMap(
    "sglang",
    "SGLang",
    "sglang:",
    gauges={
        "requests_running": ("sglang:num_running_reqs",),
        "requests_waiting": ("sglang:num_queue_reqs",),
        "kv_cache_usage": ("sglang:token_usage",),
    },
    counters={
        "prefix_cache_queries": ("sglang:prompt_tokens_total",),
        "prefix_cache_hits": ("sglang:cached_tokens_total",),
        "prompt_tokens": ("sglang:prompt_tokens_total",),
        "generation_tokens": ("sglang:generation_tokens_total",),
        "requests_finished": ("sglang:num_requests_total",),
    },
    histograms={
        "queue_time_s": ("sglang:queue_time_seconds",),
        "ttft_s": ("sglang:time_to_first_token_seconds",),
        "e2e_s": ("sglang:e2e_request_latency_seconds",),
    },
)

# TGI has no KV-cache gauge, no prefix cache and no preemption counter.
TGI = NameMap(
    "tgi",
    "TGI",
    "tgi_",
    gauges={
        "requests_running": ("tgi_batch_current_size",),
        "requests_waiting": ("tgi_queue_size",),
    },
    counters={
        "requests_finished": ("tgi_request_success", "tgi_request_success_total"),
        "generation_tokens": ("tgi_request_generated_tokens_sum",),
    },
    histograms={
        "queue_time_s": ("tgi_request_queue_duration",),
        "e2e_s": ("tgi_request_duration",),
    },
)

SIM_MARKER = "llmbench_sim_"  # the simulator exposes vLLM's names beside its own
# The fixed-timing simulator has no engine to report on: only what it received. (Its twin
# presets expose vLLM's names too, and the vLLM map, first, takes those.)
SIMULATOR = NameMap(
    "llmbench-sim",
    "llmbench simulator",
    SIM_MARKER,
    counters={"requests_received": ("llmbench_sim_requests_total",)},
)

MAPS: tuple[NameMap, ...] = (VLLM, SGLANG, TGI, SIMULATOR)


def choose_map(names: set[str]) -> NameMap | None:
    """The map whose engine's names appear in a scrape; None for a server none describes."""
    for name_map in MAPS:
        if any(name.startswith(name_map.marker) for name in names):
            return name_map
    return None
