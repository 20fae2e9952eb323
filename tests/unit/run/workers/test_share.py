"""Splitting a load over worker processes: the shares add up to exactly the one-process load
(bounds, streams, schedule, request items), and the worker count follows the documented rule."""

from __future__ import annotations

import itertools

import pytest

from llmbench.config import LoadSpec, RunSpec, TargetSpec
from llmbench.run.plan import build_load
from llmbench.run.workers.share import choose_workers, dealt, worker_share


def _spec(**load: object) -> RunSpec:
    return RunSpec(load=LoadSpec.model_validate(load))


@pytest.mark.parametrize(("concurrency", "workers"), [(1, 1), (4, 2), (5, 2), (7, 3), (3, 3)])
@pytest.mark.parametrize(("requests", "warmup"), [(10, 0), (13, 5), (2, 0)])
def test_closed_loop_shares_add_up_to_the_whole(
    concurrency: int, workers: int, requests: int, warmup: int
) -> None:
    spec = _spec(concurrency=concurrency, requests=requests, warmup=warmup)
    whole = build_load(spec)
    expected = [item.prompt for item in itertools.islice(whole.items, requests + warmup)]
    seen: dict[int, str] = {}
    streams = warm_total = measured_total = 0
    for w in range(workers):
        share = worker_share(build_load(spec), w, workers)
        assert share.closed is not None
        assert share.closed.max_requests is not None
        streams += share.closed.concurrency
        warm_total += share.closed.warmup_requests
        measured_total += share.closed.max_requests
        # A worker sends its warm-up items first, then its measured ones, in this order.
        n = share.closed.warmup_requests + share.closed.max_requests
        for item in itertools.islice(share.items, n):
            index = int(item.item_id.removeprefix("req-"))
            assert index not in seen  # no item sent twice
            seen[index] = item.prompt
        assert share.connection_limit == share.warm_connections == share.closed.concurrency
    assert (streams, warm_total, measured_total) == (concurrency, warmup, requests)
    assert [seen[i] for i in range(requests + warmup)] == expected  # the same bytes as N = 1


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_open_loop_shares_deal_the_schedule_and_its_items(workers: int) -> None:
    spec = _spec(profile="poisson", rate=50.0, requests=20, warmup=3, max_concurrency=5)
    whole = build_load(spec)
    assert whole.open is not None
    expected = {item.item_id: item.prompt for item in itertools.islice(whole.items, 23)}
    sends: dict[int, int] = {}
    caps = 0
    for w in range(workers):
        share = worker_share(build_load(spec), w, workers)
        assert share.open is not None
        assert share.open.max_concurrency is not None
        caps += share.open.max_concurrency
        items = list(itertools.islice(share.items, len(share.open.indices)))  # endless stream
        plan = share.open
        for index, offset, item in zip(plan.indices, plan.offsets_ns, items, strict=True):
            assert item.item_id == f"req-{index}"
            assert item.prompt == expected[item.item_id]
            sends[index] = offset
    assert caps == 5
    assert [sends[i] for i in range(23)] == list(whole.open.offsets_ns)


def test_ramp_stream_starts_follow_their_streams() -> None:
    spec = _spec(profile="ramp", concurrency=5, duration_s=1.0)
    whole = build_load(spec)
    assert whole.closed is not None
    starts = [worker_share(build_load(spec), w, 2).closed for w in range(2)]
    assert starts[0] is not None
    assert starts[1] is not None
    assert starts[0].stream_starts_ns == whole.closed.stream_starts_ns[0::2]
    assert starts[1].stream_starts_ns == whole.closed.stream_starts_ns[1::2]


def test_a_connection_limit_is_dealt_to_the_workers() -> None:
    spec = RunSpec(target=TargetSpec(connection_limit=5), load=LoadSpec(concurrency=8, requests=10))
    limits = [worker_share(build_load(spec), w, 2).connection_limit for w in range(2)]
    assert limits == [3, 2]


def test_dealt_counts_sum_to_the_total() -> None:
    for total, parts in itertools.product(range(12), range(1, 5)):
        assert sum(dealt(total, parts, p) for p in range(parts)) == total


@pytest.mark.parametrize(
    ("load", "requested", "cpus", "expected"),
    [
        ({"concurrency": 1, "requests": 5}, None, 8, 1),  # c=1 needs no second process
        ({"concurrency": 256, "requests": 5}, None, 8, 2),  # one per 128 streams
        ({"concurrency": 1024, "requests": 5}, None, 3, 3),  # never more than the free CPUs
        ({"concurrency": 1024, "requests": 5}, None, 1, 1),
        ({"concurrency": 3, "requests": 5}, 8, 1, 3),  # asked for: at most one per stream
        ({"profile": "constant", "rate": 200.0, "requests": 400}, None, 8, 4),  # 64 req/s each
        ({"profile": "constant", "rate": 9.0, "requests": 2, "max_concurrency": 1}, 4, 8, 1),
    ],
)
def test_worker_count_rule(
    load: dict[str, object], requested: int | None, cpus: int, expected: int
) -> None:
    plan = build_load(_spec(**load))
    assert choose_workers(plan, requested=requested, cpus=cpus) == expected


def test_a_share_outside_the_workers_is_refused() -> None:
    with pytest.raises(ValueError, match="range"):
        worker_share(build_load(_spec(concurrency=2, requests=2)), 2, 2)
