"""Consistent hashing: which of several servers holds a key.

Each server owns many points on a ring of 64-bit hashes; a key belongs to the
first point at or after its own hash. Adding a server moves only about
``1/len(servers)`` of the keys, so a resized cluster keeps most queues in place.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Sequence
from functools import lru_cache

__all__ = ["HashRing"]


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


class HashRing:
    """Maps keys to one of ``size`` shards (0 … size-1), consistently.

    Args:
        nodes: stable names of the shards (their URLs), in shard order.
        points: ring points per shard; more points spread keys more evenly.
    """

    def __init__(self, nodes: Sequence[str], points: int = 160) -> None:
        if not nodes:
            raise ValueError("a hash ring needs at least one node")
        ring = sorted((_hash(f"{node}#{i}"), shard) for shard, node in enumerate(nodes) for i in range(points))
        self._hashes = [h for h, _ in ring]
        self._shards = [s for _, s in ring]
        self.size = len(nodes)
        self.shard_of = lru_cache(maxsize=65536)(self._shard_of)

    def _shard_of(self, key: str) -> int:
        if self.size == 1:
            return 0
        index = bisect.bisect_left(self._hashes, _hash(key)) % len(self._hashes)
        return self._shards[index]
