"""The Redis backends' queues and groups, as :mod:`~channels_core.backends.inspect_base` reports them.

One reader for one Redis, sharded Redis and Redis Cluster: each server (each
shard, each primary of the cluster) holds its own queues and the group members
stored in them, so the reader walks every server's keys with ``SCAN`` and asks
about each page of keys in one pipelined round trip. Nothing is written.

The key layouts read here are the backends' (``redis_lua``'s docstring for
one Redis and shards, :mod:`~channels_core.backends.redis_cluster_keys` for
the cluster), under the backend's ``PREFIX`` ``P``:

* a queue is a list ``Pq:<queue>`` (``Pq:{<queue>}`` on a cluster) of entries
  ``<deadline ms>|<channels>|<json>``, oldest first;
* a group's members stored in one queue are a sorted set scored by their
  expiry (ms): ``Pm:<group>:<queue>`` (``Pm:{<queue>}:<group>`` on a cluster).

Deadlines are on the Redis server's clock, so ages are measured with its
``TIME``, never the client's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import redis

from .inspect_base import MembershipCount, QueueState, age_of_oldest
from .redis import RedisBackend
from .redis_cluster import RedisClusterBackend
from .redis_shard import Shard

__all__ = ["memberships", "queues"]

#: Keys asked for per ``SCAN`` call, and so per pipelined round trip.
SCAN_COUNT = 1000

#: Answers, for the queue whose key it is given, ``{live entries, deadline of the oldest live one (ms),
#: the server's now (ms)}``. A queue's entries all live its one expiry, so they are in deadline order, and
#: a binary search finds the first live one without reading every entry.
QUEUE_STATE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local length = redis.call('LLEN', KEYS[1])
local function deadline_at(index)
  local entry = redis.call('LINDEX', KEYS[1], index)
  return tonumber(string.sub(entry, 1, string.find(entry, '|', 1, true) - 1))
end
local low, high = 0, length
while low < high do
  local middle = math.floor((low + high) / 2)
  if deadline_at(middle) > now then high = middle else low = middle + 1 end
end
if low == length then return {0, 0, now} end
return {length - low, deadline_at(low), now}
"""

AnyRedisBackend = RedisBackend | RedisClusterBackend


def queues(backend: AnyRedisBackend) -> list[QueueState]:
    """Every queue holding live entries, on every server of the backend."""
    layout = _Layout.of(backend)
    states = []
    for shard in layout.servers():
        for keys in _scan(shard, layout.queue_pattern):
            replies = shard.call_many([("EVAL", QUEUE_STATE, 1, key) for key in keys])
            for key, reply in zip(keys, replies, strict=True):
                if isinstance(reply, redis.ResponseError):  # a key that moved to another node meanwhile
                    continue
                live, deadline_ms, now_ms = (int(value) for value in reply)
                if live:
                    queue = layout.queue_of(key)
                    expiry = backend.expiry_for(queue)
                    age = age_of_oldest(deadline_ms / 1000, expiry, now_ms / 1000)
                    states.append(QueueState(queue, live, age, backend.capacity_for(queue), expiry))
    return states


def memberships(backend: AnyRedisBackend) -> list[MembershipCount]:
    """The live members of every group, counted by the queue they are stored in (one ``ZCOUNT`` each)."""
    layout = _Layout.of(backend)
    counts = []
    for shard in layout.servers():
        for keys in _scan(shard, layout.members_pattern):
            after_now = f"({int(shard.server_ms())}"
            replies = shard.call_many([("ZCOUNT", key, after_now, "+inf") for key in keys])
            for key, reply in zip(keys, replies, strict=True):
                if isinstance(reply, int) and reply:
                    group, queue = layout.group_and_queue_of(key)
                    counts.append(MembershipCount(group, queue, reply))
    return counts


class _Layout:
    """Where one kind of Redis backend keeps queues and members, and how to read their names back."""

    def __init__(
        self,
        servers: Callable[[], list[Shard]],
        prefix: str,
        queue_of: Callable[[str], str],
        group_and_queue_of: Callable[[str], tuple[str, str]],
        cluster: bool,
    ) -> None:
        self.servers = servers
        self.queue_pattern = f"{prefix}q:{{*" if cluster else f"{prefix}q:*"
        self.members_pattern = f"{prefix}m:{{*" if cluster else f"{prefix}m:*"
        self.queue_of = queue_of
        self.group_and_queue_of = group_and_queue_of

    @classmethod
    def of(cls, backend: AnyRedisBackend) -> _Layout:
        if isinstance(backend, RedisClusterBackend):
            start = len(backend.keys.prefix) + 3  # after "Pm:{" or "Pq:{"

            def cluster_members(key: str) -> tuple[str, str]:
                queue, _, group = key[start:].partition("}:")
                return group, queue

            return cls(backend.router.primaries, backend.keys.prefix, backend.keys.queue_of, cluster_members, True)
        start = len(backend.prefix) + 2  # after "Pm:" or "Pq:"

        def members(key: str) -> tuple[str, str]:
            group, _, queue = key[start:].partition(":")  # group names have no colon
            return group, queue

        return cls(lambda: list(backend.shards), backend.prefix, lambda key: key[start:], members, False)


def _scan(shard: Shard, pattern: str) -> Iterator[list[str]]:
    """The keys matching ``pattern`` on one server, a page at a time (a key may come twice; SCAN allows it)."""
    cursor: Any = 0
    seen: set[str] = set()
    while True:
        cursor, found = shard.call("SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT)
        keys = [key.decode() for key in found if key.decode() not in seen]
        seen.update(keys)
        if keys:
            yield keys
        if int(cursor) == 0:
            return
