"""KV blocks and the prefix cache: chained hashes, whole-block hits, LRU eviction of unreferenced
blocks, TTL and minimum length, and the engine losing a session's history under memory pressure.
"""

from __future__ import annotations

from llmbench.sim.twin.engine import Engine
from llmbench.sim.twin.kvcache import BlockPool, block_hashes
from llmbench.sim.twin.presets import builtin, override
from llmbench.sim.twin.sequence import Seq

WORDS = tuple(f"w{i}" for i in range(64))


def test_hashes_chain_over_every_earlier_token() -> None:
    a = block_hashes(WORDS, 16)
    assert len(a) == 4  # only full blocks
    b = block_hashes(("x", *WORDS[1:]), 16)
    assert all(x != y for x, y in zip(a, b, strict=True))  # one early change moves all
    assert block_hashes(WORDS[:40], 16) == a[:2]


def test_hits_are_whole_leading_blocks() -> None:
    pool = BlockPool(10, caching=True)
    hashes = block_hashes(WORDS, 16)
    assert pool.take(4)
    pool.release([], 4, hashes, now_s=0.0)
    assert pool.match(hashes, 1.0) == 4
    other = block_hashes((*WORDS[:20], *("y" for _ in range(44))), 16)
    assert pool.match(other, 1.0) == 1  # block 2 differs: block 3 cannot hit either


def test_unreferenced_blocks_are_evicted_least_recently_used_first() -> None:
    pool = BlockPool(4, caching=True)
    old, new = block_hashes(WORDS[:32], 16), block_hashes(tuple(f"n{i}" for i in range(32)), 16)
    for hashes, t in ((old, 0.0), (new, 1.0)):
        assert pool.take(2)
        pool.release([], 2, hashes, now_s=t)
    assert pool.available == 4
    assert pool.take(2)  # needs room: the older entry goes
    assert pool.match(old, 2.0) == 0
    assert pool.match(new, 2.0) == 2


def test_referenced_blocks_are_never_evicted() -> None:
    pool = BlockPool(2, caching=True)
    hashes = block_hashes(WORDS[:32], 16)
    assert pool.take(2)
    pool.release([], 2, hashes, now_s=0.0)
    pool.acquire(hashes[: pool.match(hashes, 1.0)])
    assert not pool.take(1)
    pool.release(hashes, 0, [], now_s=2.0)
    assert pool.take(1)


def test_ttl_and_minimum_length() -> None:
    pool = BlockPool(8, caching=True, ttl_s=10.0, min_cacheable_tokens=48, block_tokens=16)
    hashes = block_hashes(WORDS, 16)
    assert pool.take(4)
    pool.release([], 4, hashes, now_s=0.0)
    assert pool.match(hashes[:2], 1.0) == 0  # 32 tokens < 48
    assert pool.match(hashes, 5.0) == 4
    assert pool.match(hashes, 20.0) == 0  # expired


def test_a_session_loses_its_history_under_memory_pressure() -> None:
    preset = override(
        builtin("cloud-warm"),
        {"engine.kv_blocks": 300, "engine.min_cacheable_tokens": 0, "noise.jitter_sigma": 0.0},
    )
    engine = Engine(preset)
    history = tuple(f"h{i}" for i in range(2048))  # 128 blocks

    def run(seq: Seq) -> None:
        engine.submit(seq)
        now_s = seq.eligible_s
        while (step := engine.plan(now_s)) is not None:
            now_s = step.end_s

    run(Seq(1, 0.0, 0.0, len(history), 4, words=history))
    # Other traffic needs the blocks: 2 × 2,400 distinct tokens push the history out.
    for i in (2, 3):
        other = tuple(f"o{i}-{j}" for j in range(2400))
        run(Seq(i, float(i), float(i), len(other), 4, words=other))
    again = Seq(4, 10.0, 10.0, len(history), 4, words=history)
    run(again)
    assert again.cached_tokens == 0
    fresh_engine = Engine(preset)
    engine = fresh_engine
    run(Seq(5, 0.0, 0.0, len(history), 4, words=history))
    kept = Seq(6, 1.0, 1.0, len(history), 4, words=history)
    run(kept)
    assert kept.cached_tokens is not None
    assert kept.cached_tokens >= 2032  # all but the last block (one token must be computed)
