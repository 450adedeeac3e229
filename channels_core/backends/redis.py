"""The Redis backend: channels across processes and machines, on one or many Redis servers.

Every operation is one Lua script (one atomic round trip) or one blocking
pop. Several ``HOSTS`` shard queues by consistent hashing of the queue name;
a response channel's queue is its inbox, so an interface server's clients
all live on one shard and it receives for all of them with one blocking pop.

Delivery is at most once: an entry is removed by the same atomic command that
hands it to a receiver, and a command that fails is never retried
automatically (a retried send could deliver twice).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

import redis
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.retry import Retry

from .. import defaults
from ..exceptions import BackendUnavailable
from ..names import inbox_of
from . import redis_lua
from .base import BaseBackend, GroupSendResult
from .hashring import HashRing

__all__ = ["RedisBackend"]

logger = logging.getLogger("channels_core.backends.redis")

#: Longest blocking pop while listening on several shards, so a message on
#: another shard waits at most about this long per shard.
SHARD_POLL_SLICE = 0.05


class _Shard:
    """One Redis server: its client, its scripts, and decrements owed to it."""

    def __init__(self, url: str, config: Mapping[str, Any]) -> None:
        self.url = url
        self.socket_timeout = float(config.get("SOCKET_TIMEOUT", 5.0))
        pool = redis.BlockingConnectionPool.from_url(
            url,
            # redis-py caps a pool at 100 connections by default; every thread
            # blocked in a receive holds one, so size it for the process.
            max_connections=int(config.get("POOL_SIZE", 500)),
            timeout=float(config.get("POOL_TIMEOUT", 5.0)),
            socket_timeout=self.socket_timeout,
            socket_connect_timeout=float(config.get("CONNECT_TIMEOUT", 2.0)),
            health_check_interval=10,
            # No automatic retries: a send retried after a lost reply could deliver twice.
            retry=Retry(NoBackoff(), 0),
        )
        self.client = redis.Redis(connection_pool=pool)
        self.scripts: dict[str, Script] = {
            name: self.client.register_script(getattr(redis_lua, name))
            for name in ("SEND", "RECEIVE", "GROUP_ADD", "GROUP_CHANNELS", "GROUP_SEND")
        }
        # (counts key, channel) of entries taken by BLPOP, forgotten by the next RECEIVE script.
        self.owed: deque[tuple[bytes, bytes]] = deque()

    def run(self, script: str, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        return self.scripts[script](keys=keys, args=args)


class RedisBackend(BaseBackend):
    """Channels and groups in Redis.

    Extra ``CHANNEL_BACKENDS`` keys: ``HOSTS`` (Redis URLs; several shard),
    ``PREFIX`` (key prefix, default ``"channels:"``), ``POOL_SIZE``,
    ``SOCKET_TIMEOUT``, ``CONNECT_TIMEOUT``.
    """

    def __init__(self, config: Mapping[str, Any], alias: str = defaults.DEFAULT_ALIAS) -> None:
        super().__init__(config, alias)
        hosts = list(config.get("HOSTS") or ["redis://127.0.0.1:6379/0"])
        self.prefix: str = config.get("PREFIX", "channels:")
        self.shards = [_Shard(url, config) for url in hosts]
        self.ring = HashRing(hosts)
        self._expiry_ms = int(self.expiry * 1000)
        self._group_expiry_ms = int(self.group_expiry * 1000)
        self._capacity_args: list[Any] = [self.capacity]
        for glob, capacity in self.capacity_rules:
            self._capacity_args += [redis_lua.lua_pattern(glob), capacity]
        self._rotation = itertools.count()

    # Keys and shards.

    def _queue_key(self, queue: str) -> str:
        return f"{self.prefix}q:{queue}"

    def _counts_key(self, queue: str) -> str:
        return f"{self.prefix}n:{queue}"

    def _shard_for(self, queue: str) -> _Shard:
        return self.shards[self.ring.shard_of(queue)]

    @contextmanager
    def _reaching(self, shard: _Shard) -> Iterator[None]:
        """Turn connection failures into :exc:`BackendUnavailable` naming the server."""
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as error:
            raise BackendUnavailable(f"Redis at {shard.url} is unavailable: {error}") from error

    # Messages.

    def _send(self, channel: str, queue: str, payload: bytes, capacity: int) -> bool:
        shard = self._shard_for(queue)
        with self._reaching(shard):
            sent = shard.run(
                "SEND",
                [self._queue_key(queue), self._counts_key(queue)],
                [channel, payload, capacity, self._expiry_ms],
            )
        return bool(sent)

    def _receive(self, queues: list[str], timeout: float) -> tuple[str, bytes] | None:
        by_shard: dict[int, list[str]] = {}
        for queue in queues:
            by_shard.setdefault(self.ring.shard_of(queue), []).append(queue)
        listens = [(self.shards[i], names) for i, names in by_shard.items()]
        # Start at a different shard each call so no shard's channels starve.
        turn = next(self._rotation) % len(listens)
        listens = listens[turn:] + listens[:turn]
        wait = SHARD_POLL_SLICE if len(listens) > 1 else listens[0][0].socket_timeout / 2
        deadline = time.monotonic() + timeout
        while True:
            for shard, names in listens:
                found = self._pop(shard, names)
                if found is not None:
                    return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            shard, names = listens[0]
            listens = listens[1:] + listens[:1]  # block on each shard in turn
            found = self._blocking_pop(shard, names, min(remaining, wait))
            if found is not None:
                return found

    def _pop(self, shard: _Shard, queues: list[str]) -> tuple[str, bytes] | None:
        """Non-blocking: skip expired entries using the server's clock."""
        keys = [self._queue_key(q) for q in queues] + [self._counts_key(q) for q in queues]
        owed = self._take_owed(shard)
        args: list[Any] = [len(owed)]
        for counts, channel in owed:
            args += [counts, channel]
        try:
            with self._reaching(shard):
                found = shard.run("RECEIVE", keys, args)
        except BackendUnavailable:
            shard.owed.extend(owed)
            raise
        if not found:
            return None
        _, channel, payload = found
        return channel.decode(), payload

    def _blocking_pop(self, shard: _Shard, queues: list[str], wait: float) -> tuple[str, bytes] | None:
        """Wait for an entry without polling.

        The entry was pushed while we waited (the queues were empty a moment
        ago), so it cannot have expired. Its count is forgotten by the next
        RECEIVE script on this shard, which saves a round trip now.
        """
        with self._reaching(shard):
            # The socket timeout must outlast the pop, or redis-py gives up first.
            popped = shard.client.blpop([self._queue_key(q) for q in queues], timeout=max(wait, 0.01))
        if popped is None:
            return None
        key, entry = cast(list[bytes], popped)  # the client returns bytes (no decode_responses)
        _, channel, payload = entry.split(b"|", 2)
        queue = key.decode().removeprefix(f"{self.prefix}q:")
        shard.owed.append((self._counts_key(queue).encode(), channel))
        return channel.decode(), payload

    def _take_owed(self, shard: _Shard) -> list[tuple[bytes, bytes]]:
        owed = []
        while shard.owed:
            try:
                owed.append(shard.owed.popleft())
            except IndexError:  # another thread took the last one
                break
        return owed

    # Groups: each shard keeps the members whose queue it holds.

    def _group_key(self, group: str) -> str:
        return f"{self.prefix}g:{group}"

    def _group_add(self, group: str, channel: str) -> None:
        shard = self._shard_for(inbox_of(channel))
        with self._reaching(shard):
            shard.run("GROUP_ADD", [self._group_key(group)], [channel, self._group_expiry_ms])

    def _group_discard(self, group: str, channel: str) -> None:
        shard = self._shard_for(inbox_of(channel))
        with self._reaching(shard):
            shard.client.zrem(self._group_key(group), channel)

    def _group_channels(self, group: str) -> list[str]:
        members: list[str] = []
        for shard in self.shards:
            with self._reaching(shard):
                members += [m.decode() for m in shard.run("GROUP_CHANNELS", [self._group_key(group)], [])]
        return members

    def _group_send(self, group: str, payload: bytes) -> GroupSendResult:
        """One script per shard, whatever the number of members."""
        result = GroupSendResult()
        args = [self.prefix, payload, self._expiry_ms, *self._capacity_args]
        for shard in self.shards:
            with self._reaching(shard):
                delivered, skipped = shard.run("GROUP_SEND", [self._group_key(group)], args)
            result.add(GroupSendResult(delivered, skipped))
        return result

    def flush(self) -> None:
        for shard in self.shards:
            with self._reaching(shard):
                keys = list(shard.client.scan_iter(match=f"{self.prefix}*", count=1000))
                for first in range(0, len(keys), 1000):
                    shard.client.delete(*keys[first : first + 1000])
                shard.owed.clear()

    def close(self) -> None:
        for shard in self.shards:
            shard.client.close()
            shard.client.connection_pool.disconnect()
