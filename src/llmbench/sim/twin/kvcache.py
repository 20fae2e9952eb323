"""KV cache blocks and the prefix cache: a pool of fixed-size blocks, chained block hashes over
a sequence's tokens, hits on whole leading blocks only, LRU eviction of unreferenced cached
blocks, and provider-style rules (minimum cacheable length, time-to-live).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence


def block_hashes(tokens: Sequence[str], block_tokens: int) -> list[int]:
    """Chained hashes of the full blocks: block i's hash covers every token before its end."""
    hashes: list[int] = []
    parent = 0
    for end in range(block_tokens, len(tokens) + 1, block_tokens):
        parent = hash((parent, *tokens[end - block_tokens : end]))
        hashes.append(parent)
    return hashes


class BlockPool:
    """Free blocks, cached-and-unreferenced blocks (LRU, evictable) and referenced cached ones.

    A block is in exactly one of: free, held privately by a sequence, cached unreferenced
    (`_lru`), cached and referenced (`_refs`). Evictable blocks count as available.
    """

    def __init__(
        self,
        capacity: int,
        *,
        caching: bool,
        ttl_s: float = 0.0,
        min_cacheable_tokens: int = 0,
        block_tokens: int = 16,
    ) -> None:
        self.capacity = capacity
        self.free = capacity
        self.caching = caching
        self._ttl_s = ttl_s
        self._min_blocks = -(-min_cacheable_tokens // block_tokens)
        self._lru: OrderedDict[int, float] = OrderedDict()  # hash → last used (s)
        self._refs: dict[int, int] = {}  # hash → sequences holding it
        self.lookups = 0
        self.hit_blocks = 0
        self.queried_blocks = 0

    @property
    def available(self) -> int:
        return self.free + len(self._lru)

    @property
    def used(self) -> int:
        return self.capacity - self.available

    def take(self, n: int) -> bool:
        """Allocate `n` private blocks, evicting least recently used cached ones if needed."""
        if n > self.available:
            return False
        from_free = min(n, self.free)
        self.free -= from_free
        for _ in range(n - from_free):
            self._lru.popitem(last=False)
        return True

    def evictable(self, hashes: Sequence[int]) -> int:
        """How many of `hashes` are cached and unreferenced (they count in `available`)."""
        lru = self._lru
        return sum(1 for h in hashes if h in lru)

    def give_back(self, n: int) -> None:
        self.free += n

    def match(self, hashes: Sequence[int], now_s: float) -> int:
        """Leading blocks of `hashes` that are cached and fresh (0 below the cacheable minimum)."""
        if not self.caching:
            return 0
        self.lookups += 1
        self.queried_blocks += len(hashes)
        hits = 0
        for h in hashes:
            if h in self._refs:
                hits += 1
                continue
            used_s = self._lru.get(h)
            if used_s is None:
                break
            if self._ttl_s and now_s - used_s > self._ttl_s:
                del self._lru[h]  # expired: the provider dropped it
                self.free += 1
                break
            hits += 1
        if hits < self._min_blocks:
            return 0
        self.hit_blocks += hits
        return hits

    def acquire(self, hashes: Sequence[int]) -> None:
        """Reference matched blocks (taking them off the LRU list)."""
        for h in hashes:
            if h in self._refs:
                self._refs[h] += 1
            else:
                del self._lru[h]
                self._refs[h] = 1

    def release(
        self, held: Sequence[int], private: int, register: Sequence[int], now_s: float
    ) -> None:
        """A sequence lets go of its referenced blocks and `private` blocks of its own.

        Its own full blocks named by `register` become cached (when not already) instead of free.
        """
        for h in held:
            count = self._refs[h] - 1
            if count:
                self._refs[h] = count
            else:
                del self._refs[h]
                self._lru[h] = now_s
        if self.caching:
            for h in register[:private]:
                if h in self._refs or h in self._lru:
                    self.free += 1  # a duplicate of a block someone else cached
                    if h in self._lru:
                        self._lru[h] = now_s
                        self._lru.move_to_end(h)
                else:
                    self._lru[h] = now_s
                private -= 1
        self.free += private

    @property
    def hit_rate(self) -> float:
        return self.hit_blocks / self.queried_blocks if self.queried_blocks else 0.0
