"""Per-request length distributions of the synthetic workload: seeded normal and mixture draws
within sample-size bounds, the clipping rule, prompts as long as their `input_tokens`,
determinism per seed and prompt set, the same bytes whatever the worker count, and flag errors."""

from __future__ import annotations

import hashlib
import io
import itertools
import math
import random
import statistics

import pytest
from pydantic import ValidationError
from rich.console import Console

from llmbench.config import LoadSpec, RunSpec, WorkloadSpec
from llmbench.config.run import parse_mix
from llmbench.records import RequestSpec
from llmbench.run.plan import build_load
from llmbench.run.workers.share import worker_share
from llmbench.workload.lengths import Lengths
from support.runs import golden_run, run_with

N = 4000


def _items(spec: RunSpec, n: int = N) -> list[RequestSpec]:
    return list(itertools.islice(build_load(spec).items, n))


def _digest(items: list[RequestSpec]) -> str:
    return hashlib.sha256("\n".join(i.prompt for i in items).encode()).hexdigest()[:16]


def _spec(load: dict[str, object] | None = None, **workload: object) -> RunSpec:
    return RunSpec(
        workload=WorkloadSpec.model_validate(workload),
        load=LoadSpec.model_validate(load or {"requests": 10}),
    )


def test_normal_lengths_have_the_mean_and_stddev() -> None:
    items = _items(_spec(input_tokens=500, input_tokens_stddev=50, output_tokens_stddev=4))
    inputs = [item.input_tokens or 0 for item in items]
    # The sample mean's sd is σ/√N (0.8 tokens): 5 of them is a bound that could fail.
    assert abs(statistics.mean(inputs) - 500) < 5 * 50 / math.sqrt(N)
    # The sample sd's sd is about σ/√(2N) (0.56); rounding adds 1/12 to the variance.
    assert abs(statistics.stdev(inputs) - 50) < 5 * 50 / math.sqrt(2 * N)
    outputs = [item.max_tokens for item in items]
    assert abs(statistics.mean(outputs) - 64) < 5 * 4 / math.sqrt(N)
    assert len(set(inputs)) > 100  # drawn, not fixed
    # Every prompt has as many words (sim tokens) as its recorded input_tokens.
    assert all(len(item.prompt.split()) == item.input_tokens for item in items)


def test_mix_fractions_within_binomial_bounds() -> None:
    items = _items(_spec(input_mix=((128, 0.9), (4096, 0.1)), output_mix=((8, 0.5), (32, 0.5))))
    long_share = sum(item.input_tokens == 4096 for item in items) / N
    assert {item.input_tokens for item in items} == {128, 4096}
    assert abs(long_share - 0.1) < 5 * math.sqrt(0.1 * 0.9 / N)  # 5 binomial sds
    short_out = sum(item.max_tokens == 8 for item in items) / N
    assert abs(short_out - 0.5) < 5 * math.sqrt(0.25 / N)
    assert all(len(item.prompt.split()) == item.input_tokens for item in items[:200])


def test_normal_lengths_are_clipped_to_one_and_to_the_prefix() -> None:
    draws = list(itertools.islice(Lengths(3, 10.0).draws(random.Random(1)), N))
    assert min(draws) == 1  # a wide normal around 3 often falls under 1: clipped, not dropped
    assert draws.count(1) > N / 4
    items = _items(_spec(input_tokens=40, input_tokens_stddev=40, prefix_tokens=16), 500)
    assert min(item.input_tokens or 0 for item in items) == 16
    shared = items[0].prompt.split()[:16]
    assert all(item.prompt.split()[:16] == shared for item in items)
    # A mix longer than --input-tokens carries a prefix longer than --input-tokens.
    long = _items(_spec(input_mix=((600, 0.5), (900, 0.5)), prefix_tokens=512), 20)
    assert {item.input_tokens for item in long} == {600, 900}
    assert all(len(item.prompt.split()) == item.input_tokens for item in long)


def test_draws_are_deterministic_per_seed_and_prompt_set() -> None:
    fields = {"input_tokens_stddev": 30.0, "output_mix": ((4, 0.5), (9, 0.5))}
    first = [(i.prompt, i.max_tokens) for i in _items(_spec(**fields), 50)]
    assert first == [(i.prompt, i.max_tokens) for i in _items(_spec(**fields), 50)]
    other_seed = [(i.prompt, i.max_tokens) for i in _items(_spec(seed=1, **fields), 50)]
    other_set = [(i.prompt, i.max_tokens) for i in _items(_spec(prompt_set=1, **fields), 50)]
    assert other_seed != first
    assert other_set != first
    assert not {p for p, _ in other_set} & {p for p, _ in first}  # no prompt resent


def test_fixed_lengths_keep_their_bytes() -> None:
    """Without a distribution the stream is the one it always was (seed 0, 128 words)."""
    fixed = _items(_spec(), 3)
    assert [len(i.prompt.split()) for i in fixed] == [128] * 3
    assert {i.max_tokens for i in fixed} == {64}
    # Digests of the first three prompts, recorded on main before length distributions.
    assert _digest(fixed) == "0fd9920593d55625"
    assert _digest(_items(_spec(prefix_tokens=16, prompt_set=2), 3)) == "aa085e05fda1b2ec"
    # An output distribution alone leaves the prompts as they were.
    outputs_only = _items(_spec(output_tokens_stddev=8.0), 3)
    assert [i.prompt for i in outputs_only] == [i.prompt for i in fixed]


@pytest.mark.parametrize("workers", [2, 3])
@pytest.mark.parametrize(
    "load",
    [{"concurrency": 5, "requests": 30, "warmup": 2}, {"profile": "poisson", "rate": 50.0,
                                                       "requests": 30, "max_concurrency": 4}],
)  # fmt: skip
def test_workers_send_the_same_bytes(workers: int, load: dict[str, object]) -> None:
    spec = _spec(load, input_mix=((16, 0.7), (300, 0.3)), output_tokens_stddev=5.0)
    whole = {i.item_id: (i.prompt, i.max_tokens) for i in _items(spec, 32)}
    seen: dict[str, tuple[str, int]] = {}
    for w in range(workers):
        share = worker_share(build_load(spec), w, workers)
        plan = share.closed or share.open
        assert plan is not None
        n = (
            share.closed.warmup_requests + (share.closed.max_requests or 0)
            if share.closed is not None
            else len(share.open.indices if share.open is not None else [])
        )
        seen |= {i.item_id: (i.prompt, i.max_tokens) for i in itertools.islice(share.items, n)}
    assert seen == {k: v for k, v in whole.items() if k in seen}
    assert len(seen) == (32 if "warmup" in load else 30)


def test_parse_mix() -> None:
    assert parse_mix("128:0.9, 4096:0.1") == ((128, 0.9), (4096, 0.1))
    with pytest.raises(ValueError, match="TOKENS:WEIGHT"):
        parse_mix("128")


def test_the_terminal_summary_shows_drawn_lengths_only_when_they_vary() -> None:
    from llmbench.report.terminal import run_summary

    def rendered(workload: dict[str, object]) -> str:
        console = Console(width=200, record=True, file=io.StringIO())
        base = golden_run("closed")
        assert base.summary is not None
        stats = {"mean": 326.4, "p50": 128.0, "min": 128.0, "max": 4096.0}
        inputs = base.summary.input_tokens.model_copy(update=stats)
        summary = base.summary.model_copy(update={"input_tokens": inputs})
        spec = {"workload": workload, "load": {"requests": 10}}
        console.print(run_summary(run_with(spec, summary=summary)))
        return console.export_text()

    assert "range 128–4,096" in rendered({"input_mix": [[128, 0.9], [4096, 0.1]]})
    assert "lengths per request" not in rendered({"input_tokens": 128})


def test_a_spec_takes_a_mix_as_the_flag_writes_it() -> None:
    as_text = WorkloadSpec.model_validate({"input_mix": "128:0.9, 4096:0.1"})
    assert as_text.input_mix == ((128, 0.9), (4096, 0.1))
    assert as_text == WorkloadSpec.model_validate({"input_mix": [[128, 0.9], [4096, 0.1]]})
    with pytest.raises(ValidationError, match="is not TOKENS:WEIGHT"):
        WorkloadSpec.model_validate({"output_mix": "64:1,x"})
