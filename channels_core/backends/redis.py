"""The Redis backend: channels across processes and machines, on one or many Redis servers.

Every operation is one Lua script (one atomic round trip) or one blocking
pop. Several ``HOSTS`` shard queues by consistent hashing of the queue name;
a response channel's queue is its inbox, so an interface server's clients
all live on one shard and it receives for all of them with one call.

Delivery is at most once: an entry is removed by the same atomic command that
hands it to a receiver, and a command that fails is never retried (a retried
send whose reply was lost could deliver twice).

Groups with a history (``GROUP_HISTORY``): on one server each send, and each
add with ``since``, is one script too; with several ``HOSTS`` a lock in the
group's home shard makes them take turns (``redis_history.py`` says why).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import redis
from django.core.exceptions import ImproperlyConfigured

from .. import defaults
from ..exceptions import BackendUnavailable, ChannelsError
from ..names import inbox_of
from . import redis_lua
from .base import BaseBackend
from .hashring import HashRing
from .history import HistoryKeptByStore
from .redis_entries import live_entries, pop_in_turn, send_batches, snapshots_named, written_out
from .redis_history import RedisHistory
from .redis_shard import Shard
from .storage import Entry, GroupSendResult

__all__ = ["RedisBackend"]


class RedisBackend(HistoryKeptByStore, BaseBackend):
    """Channels and groups in Redis (7.0 or newer).

    Extra ``CHANNEL_BACKENDS`` keys: ``HOSTS`` (Redis URLs; several shard),
    ``PREFIX`` (key prefix, default ``"channels:"``), ``SOCKET_TIMEOUT`` and
    ``CONNECT_TIMEOUT`` (seconds), ``POOL_SIZE`` (most connections a process
    holds to each server, default 64) and ``POOL_TIMEOUT`` (seconds a thread
    waits for one when all are in use, default the socket timeout).

    Sizing the pool: a thread holds at most one connection per server at a
    time, for one command, or for one blocking pop of at most half the socket
    timeout while it receives. So ``POOL_SIZE`` must be larger than the number
    of a process's threads that may block in a receive at once (its worker
    threads, plus one for an interface server's inbox), by the number of
    threads that send at the same time; a pool as large as the process's
    threads never makes one wait. A thread that waits longer than
    ``POOL_TIMEOUT`` gets :exc:`BackendUnavailable` saying that the pool was
    exhausted. Redis's own limit (``maxclients``, 10000 by default) bounds the
    sum over every process.

    Every failure of a server reaches callers as :exc:`BackendUnavailable`: a
    lost connection, a timeout, and the error replies of a server that cannot
    serve now (``LOADING``, ``READONLY`` from a replica after a failover,
    ``OOM``, ``BUSY``, ``MASTERDOWN``, ``CLUSTERDOWN``, ``TRYAGAIN``,
    ``MISCONF``, ``NOREPLICAS``). Nothing is retried. Other error replies
    (``WRONGTYPE``, say) are bugs or misconfigurations and come out as
    redis-py raised them.
    """

    def __init__(self, config: Mapping[str, Any], alias: str = defaults.DEFAULT_ALIAS) -> None:
        super().__init__(config, alias)
        hosts = list(config.get("HOSTS") or ["redis://127.0.0.1:6379/0"])
        self.prefix: str = config.get("PREFIX", "channels:")
        self.shards = [Shard(url, config) for url in hosts]
        self.ring = HashRing(hosts)
        self._group_expiry_ms = int(self.group_expiry * 1000)
        # GROUP_SEND looks up each queue's capacity and expiry in Lua, with these rules.
        self._rule_args: list[Any] = [self.capacity, _ms(self.expiry), len(self.capacity_rules)]
        for glob, capacity in self.capacity_rules:
            self._rule_args += [redis_lua.lua_pattern(glob), capacity]
        for glob, expiry in self.expiry_rules:
            self._rule_args += [redis_lua.lua_pattern(glob), _ms(expiry)]
        self._rotation = itertools.count()
        self.history_store = RedisHistory(self)

    def _queue_key(self, queue: str) -> str:
        return f"{self.prefix}q:{queue}"

    def _shard_for(self, queue: str) -> Shard:
        return self.shards[self.ring.shard_of(queue)]

    # Messages.

    def _push(self, queue: str, channels: Sequence[str], payload: bytes, capacity: int) -> bool:
        args = self._send_args(queue, channels, payload, capacity)
        return bool(self._shard_for(queue).run("SEND", [self._queue_key(queue)], args)[0])

    def _send_args(self, queue: str, channels: Sequence[str], payload: bytes, capacity: int) -> list[Any]:
        """One message's arguments to the ``SEND`` script."""
        (channel,) = channels  # group sends have their own script
        return [channel, payload, capacity, _ms(self.expiry_for(queue))]

    def _push_many(self, pushes: Sequence[tuple[str, Sequence[str], bytes, int]]) -> list[bool | ChannelsError]:
        """One round trip per shard: each batch of messages is one call of the ``SEND`` script."""
        by_shard: dict[int, list[int]] = {}
        for index, (queue, _, _, _) in enumerate(pushes):
            by_shard.setdefault(self.ring.shard_of(queue), []).append(index)
        results: list[bool | ChannelsError] = [False] * len(pushes)
        for shard_index, indexes in by_shard.items():
            batches = list(send_batches(indexes, [len(pushes[i][2]) for i in indexes]))
            calls = []
            for batch in batches:
                args = [arg for i in batch for arg in self._send_args(*pushes[i])]
                calls.append(([self._queue_key(pushes[i][0]) for i in batch], args))
            try:
                replies = self.shards[shard_index].run_many("SEND", calls)
            except BackendUnavailable as error:
                for i in indexes:
                    results[i] = error
                continue
            for batch, stored in zip(batches, replies, strict=True):
                if isinstance(stored, BackendUnavailable):  # the server refused this batch (out of memory, say)
                    stored = [stored] * len(batch)
                for i, outcome in zip(batch, stored, strict=True):
                    results[i] = outcome if isinstance(outcome, BackendUnavailable) else bool(outcome)
        return results

    def _pop(self, queues: list[str], timeout: float, limit: int) -> list[Entry]:
        by_shard: dict[int, list[str]] = {}
        for queue in queues:
            by_shard.setdefault(self.ring.shard_of(queue), []).append(self._queue_key(queue))
        listens = [(self.shards[i], keys) for i, keys in by_shard.items()]
        return pop_in_turn(
            listens,
            next(self._rotation),
            timeout,
            listens[0][0].socket_timeout / 2,
            lambda shard, keys, wait: self._take(shard, keys, limit, wait),
        )

    def _take(self, shard: Shard, keys: list[str], limit: int, wait: float | None) -> list[Entry]:
        """Pop up to ``limit`` live entries from the first of ``keys`` holding any, waiting up to ``wait`` s."""
        pop: tuple[Any, ...] = ("LMPOP", len(keys), *keys) if wait is None else ("BLMPOP", wait, len(keys), *keys)
        while True:
            try:
                popped = shard.call(*pop, "LEFT", "COUNT", limit)
            except redis.ResponseError as error:
                if "unknown command" not in str(error).lower():
                    raise
                raise ImproperlyConfigured(
                    f"the Redis backend needs Redis 7.0 or newer (for BLMPOP); {shard.url} answered: {error}"
                ) from error
            if popped is None:
                return []
            entries, queue = popped[1], popped[0].decode().removeprefix(self._queue_key(""))
            alive = live_entries(entries, shard.server_ms(), queue, self.expiry_for(queue))
            if alive or len(entries) < limit:
                return self._with_members(shard, alive)
            pop = ("LMPOP", len(keys), *keys)  # all of them had expired: look again, without waiting

    def _with_members(self, shard: Shard, entries: list[Entry]) -> list[Entry]:
        """Write out the members each group-send entry names (``@<snapshot id>``), with one ``MGET``."""
        snapshots = snapshots_named(entries)
        if not snapshots:
            return entries
        found = shard.call("MGET", *(f"{self.prefix}s:{snapshot}" for snapshot in snapshots))
        return written_out(entries, dict(zip(snapshots, found, strict=True)))

    # Groups: each shard keeps the members stored in its queues.

    def _group_keys(self, group: str, channel: str) -> tuple[Shard, list[str], str]:
        queue = inbox_of(channel)
        keys = [f"{self.prefix}g:{group}", f"{self.prefix}m:{group}:{queue}", f"{self.prefix}c:{group}:{queue}"]
        return self._shard_for(queue), keys, queue

    def _group_add(self, group: str, channel: str) -> None:
        shard, keys, queue = self._group_keys(group, channel)
        shard.run("GROUP_ADD", keys, [channel, queue, self._group_expiry_ms])

    def _group_discard(self, group: str, channel: str) -> None:
        shard, keys, queue = self._group_keys(group, channel)
        shard.run("GROUP_DISCARD", keys, [channel, queue])

    def _group_channels(self, group: str) -> list[str]:
        members: list[str] = []
        for shard in self.shards:
            found = shard.run(
                "GROUP_CHANNELS", [f"{self.prefix}g:{group}"], [f"{self.prefix}m:{group}:", f"{self.prefix}c:{group}:"]
            )
            members += [member.decode() for member in found]
        return members

    def _group_send(self, group: str, payload: bytes) -> GroupSendResult:
        """One script per shard, whatever the number of members."""
        result = GroupSendResult()
        args = [payload, *self._group_send_settings(group)]
        for shard in self.shards:
            delivered, skipped = shard.run("GROUP_SEND", [f"{self.prefix}g:{group}"], args)
            result.add(GroupSendResult(delivered, skipped))
        return result

    def _group_send_settings(self, group: str) -> list[Any]:
        """The arguments of ``GROUP_SEND`` after the payload: where the group's keys are, the queues' rules."""
        prefix = self.prefix
        return [f"{prefix}m:{group}:", f"{prefix}c:{group}:", f"{prefix}s:", f"{prefix}q:", *self._rule_args]

    def flush(self) -> None:
        for shard in self.shards:
            cursor = 0
            while True:
                cursor, keys = shard.call("SCAN", cursor, "MATCH", f"{self.prefix}*", "COUNT", 1000)
                if keys:
                    shard.call("UNLINK", *keys)
                if int(cursor) == 0:
                    break

    def close(self) -> None:
        for shard in self.shards:
            shard.close()


def _ms(seconds: float) -> int:
    return int(seconds * 1000)
