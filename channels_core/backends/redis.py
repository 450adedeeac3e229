"""The Redis backend: channels across processes and machines, on one or many Redis servers.

Every operation is one Lua script (one atomic round trip) or one blocking
pop. Several ``HOSTS`` shard queues by consistent hashing of the queue name;
a response channel's queue is its inbox, so an interface server's clients
all live on one shard and it receives for all of them with one call.

Delivery is at most once: an entry is removed by the same atomic command that
hands it to a receiver, and a command that fails is never retried (a retried
send whose reply was lost could deliver twice).
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import redis
from django.core.exceptions import ImproperlyConfigured
from redis.backoff import NoBackoff
from redis.connection import AbstractConnection, parse_url
from redis.retry import Retry

from .. import defaults
from ..exceptions import BackendUnavailable, ChannelsError
from ..names import inbox_of
from . import redis_lua
from .base import BaseBackend, Entry, GroupSendResult
from .hashring import HashRing

__all__ = ["RedisBackend"]

#: Longest blocking pop while listening on several shards, so a message on
#: another shard waits at most about this long per shard.
SHARD_POLL_SLICE = 0.05
#: Seconds a thread's connection may sit unused before it is checked (one poll) for a server restart.
IDLE_CHECK_AFTER = 1.0
#: Seconds between two readings of a server's clock (for dropping expired entries).
CLOCK_CHECK_EVERY = 30.0
#: Most messages, and about the most bytes, stored by one script call of ``send_many``.
SEND_BATCH_COUNT = 100
SEND_BATCH_BYTES = 1024 * 1024
_SCRIPTS = ("SEND", "GROUP_ADD", "GROUP_DISCARD", "GROUP_CHANNELS", "GROUP_SEND")


class _Shard:
    """One Redis server, reached through one connection per thread.

    A thread keeps its own connection instead of borrowing one from a pool for
    every command: the pool's bookkeeping costs more than the command itself,
    and a thread blocked in a pop holds its connection anyway.
    """

    def __init__(self, url: str, config: Mapping[str, Any]) -> None:
        self.url = url
        self.socket_timeout = float(config.get("SOCKET_TIMEOUT", 5.0))
        options = parse_url(url)  # type: ignore[no-untyped-call]
        self._connection_class = options.pop("connection_class", redis.Connection)
        self._options = {
            **options,
            "socket_timeout": self.socket_timeout,
            "socket_connect_timeout": float(config.get("CONNECT_TIMEOUT", 2.0)),
            # No automatic retries: a send retried after a lost reply could deliver twice.
            "retry": Retry(NoBackoff(), 0),
        }
        self._local = threading.local()
        self._connections: list[AbstractConnection] = []
        self._lock = threading.Lock()
        self.scripts = {name: getattr(redis_lua, name) for name in _SCRIPTS}
        self.shas = {name: _sha1(source) for name, source in self.scripts.items()}
        self._clock_offset_ms = 0.0
        self._clock_read_at = -CLOCK_CHECK_EVERY

    def _connection(self) -> AbstractConnection:
        local = self._local
        connection: AbstractConnection | None = getattr(local, "connection", None)
        now = time.monotonic()
        if connection is None:
            connection = self._connection_class(**self._options)
            local.connection = connection
            with self._lock:
                self._connections.append(connection)
        elif now - local.last_used > IDLE_CHECK_AFTER and connection._sock is not None and _closed_by_peer(connection):
            # The server went away while we were idle (a restart): nothing was
            # sent yet, so reconnecting now is safe.
            connection.disconnect()
        local.last_used = now
        return connection

    def call(self, *args: Any) -> Any:
        """Send one command and read its reply; connection failures become :exc:`BackendUnavailable`."""
        connection = self._connection()
        try:
            connection.send_command(*args)  # type: ignore[no-untyped-call]
            return connection.read_response()
        except (redis.ConnectionError, redis.TimeoutError, OSError) as error:
            raise self._lost(connection, error) from error

    def call_many(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Send several commands in one write and read every reply (a pipeline: one round trip).

        Error replies come back in the list, as :exc:`redis.ResponseError`.
        """
        connection = self._connection()
        try:
            connection.send_packed_command(connection.pack_commands(commands))  # type: ignore[no-untyped-call]
            replies: list[Any] = []
            for _ in commands:
                try:
                    replies.append(connection.read_response())
                except redis.ResponseError as error:
                    replies.append(error)
            return replies
        except (redis.ConnectionError, redis.TimeoutError, OSError) as error:
            raise self._lost(connection, error) from error

    def _lost(self, connection: AbstractConnection, error: Exception) -> BackendUnavailable:
        connection.disconnect()  # type: ignore[no-untyped-call]
        self._clock_read_at = -CLOCK_CHECK_EVERY  # it may be another server when we are back
        return BackendUnavailable(f"Redis at {self.url} is unavailable: {error}")

    def run(self, script: str, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """Run one of the backend's Lua scripts, loading it first if this server lacks it."""
        try:
            return self.call("EVALSHA", self.shas[script], len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:  # a new or restarted server: the script never ran
            self.call("SCRIPT", "LOAD", self.scripts[script])
            return self.call("EVALSHA", self.shas[script], len(keys), *keys, *args)

    def run_many(self, script: str, calls: Sequence[tuple[Sequence[Any], Sequence[Any]]]) -> list[Any]:
        """Run a script once per ``(keys, args)``, all in one round trip (two if the server lacks it)."""
        commands = [("EVALSHA", self.shas[script], len(keys), *keys, *args) for keys, args in calls]
        replies = self.call_many(commands)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, redis.exceptions.NoScriptError)]
        if missing:  # a script that was not there did not run: running it now is safe
            self.call("SCRIPT", "LOAD", self.scripts[script])
            for i, reply in zip(missing, self.call_many([commands[i] for i in missing]), strict=True):
                replies[i] = reply
        for reply in replies:
            if isinstance(reply, redis.ResponseError):
                raise reply
        return replies

    def server_ms(self) -> float:
        """The server's clock now, in ms, as read by ``TIME`` every :data:`CLOCK_CHECK_EVERY` seconds.

        Erring late by up to one round trip: an entry about to expire is
        dropped a little early rather than delivered a little late.
        """
        now = time.monotonic()
        if now - self._clock_read_at > CLOCK_CHECK_EVERY:
            seconds, microseconds = self.call("TIME")
            self._clock_offset_ms = int(seconds) * 1000 + int(microseconds) / 1000 - now * 1000
            self._clock_read_at = now = time.monotonic()
        return now * 1000 + self._clock_offset_ms

    def close(self) -> None:
        with self._lock:
            for connection in self._connections:
                connection.disconnect()  # type: ignore[no-untyped-call]
            self._connections.clear()
        self._local = threading.local()


class RedisBackend(BaseBackend):
    """Channels and groups in Redis (7.0 or newer).

    Extra ``CHANNEL_BACKENDS`` keys: ``HOSTS`` (Redis URLs; several shard),
    ``PREFIX`` (key prefix, default ``"channels:"``), ``SOCKET_TIMEOUT`` and
    ``CONNECT_TIMEOUT`` (seconds).
    """

    def __init__(self, config: Mapping[str, Any], alias: str = defaults.DEFAULT_ALIAS) -> None:
        super().__init__(config, alias)
        hosts = list(config.get("HOSTS") or ["redis://127.0.0.1:6379/0"])
        self.prefix: str = config.get("PREFIX", "channels:")
        self.shards = [_Shard(url, config) for url in hosts]
        self.ring = HashRing(hosts)
        self._group_expiry_ms = int(self.group_expiry * 1000)
        # GROUP_SEND looks up each queue's capacity and expiry in Lua, with these rules.
        self._rule_args: list[Any] = [self.capacity, _ms(self.expiry), len(self.capacity_rules)]
        for glob, capacity in self.capacity_rules:
            self._rule_args += [redis_lua.lua_pattern(glob), capacity]
        for glob, expiry in self.expiry_rules:
            self._rule_args += [redis_lua.lua_pattern(glob), _ms(expiry)]
        self._rotation = itertools.count()

    def _queue_key(self, queue: str) -> str:
        return f"{self.prefix}q:{queue}"

    def _shard_for(self, queue: str) -> _Shard:
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
            batches = list(_batches(indexes, [len(pushes[i][2]) for i in indexes]))
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
                for i, one in zip(batch, stored, strict=True):
                    results[i] = bool(one)
        return results

    def _pop(self, queues: list[str], timeout: float, limit: int) -> list[Entry]:
        by_shard: dict[int, list[str]] = {}
        for queue in queues:
            by_shard.setdefault(self.ring.shard_of(queue), []).append(self._queue_key(queue))
        listens = [(self.shards[i], keys) for i, keys in by_shard.items()]
        # Start at a different shard each call so no shard's channels starve.
        turn = next(self._rotation) % len(listens)
        listens = listens[turn:] + listens[:turn]
        wait = SHARD_POLL_SLICE if len(listens) > 1 else listens[0][0].socket_timeout / 2
        look_everywhere = len(listens) > 1 or timeout == 0
        deadline = time.monotonic() + timeout
        while True:
            if look_everywhere:
                for shard, keys in listens:
                    if entries := self._take(shard, keys, limit, None):
                        return entries
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            shard, keys = listens[0]
            listens = listens[1:] + listens[:1]  # block on each shard in turn
            # The pop must end before the socket times out, or the client gives up first.
            if entries := self._take(shard, keys, limit, max(min(remaining, wait), 0.01)):
                return entries

    def _take(self, shard: _Shard, keys: list[str], limit: int, wait: float | None) -> list[Entry]:
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
            entries, now = popped[1], shard.server_ms()
            alive = []
            for entry in entries:
                deadline, channels, payload = entry.split(b"|", 2)
                if int(deadline) > now:
                    alive.append((channels.decode().split(","), payload))
            if alive or len(entries) < limit:
                return self._with_members(shard, alive)
            pop = ("LMPOP", len(keys), *keys)  # all of them had expired: look again, without waiting

    def _with_members(self, shard: _Shard, entries: list[Entry]) -> list[Entry]:
        """Write out the members each group-send entry names (``@<snapshot id>``), with one ``MGET``."""
        snapshots = sorted({channels[0][1:] for channels, _ in entries if channels[0].startswith("@")})
        if not snapshots:
            return entries
        found = shard.call("MGET", *(f"{self.prefix}s:{snapshot}" for snapshot in snapshots))
        members = {name: value.decode().split(",") for name, value in zip(snapshots, found, strict=True) if value}
        written_out = []
        for channels, payload in entries:
            if channels[0].startswith("@"):
                channels = members.get(channels[0][1:], [])  # a snapshot gone means its members are gone
            if channels:
                written_out.append((channels, payload))
        return written_out

    # Groups: each shard keeps the members stored in its queues.

    def _group_keys(self, group: str, channel: str) -> tuple[_Shard, list[str], str]:
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
        args = [
            f"{self.prefix}m:{group}:",
            f"{self.prefix}c:{group}:",
            f"{self.prefix}s:",
            f"{self.prefix}q:",
            payload,
            *self._rule_args,
        ]
        for shard in self.shards:
            delivered, skipped = shard.run("GROUP_SEND", [f"{self.prefix}g:{group}"], args)
            result.add(GroupSendResult(delivered, skipped))
        return result

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


def _batches(indexes: list[int], sizes: list[int]) -> Iterator[list[int]]:
    """``indexes`` in runs of at most :data:`SEND_BATCH_COUNT` items and about :data:`SEND_BATCH_BYTES`."""
    batch: list[int] = []
    size = 0
    for index, item_size in zip(indexes, sizes, strict=True):
        if batch and (len(batch) == SEND_BATCH_COUNT or size + item_size > SEND_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(index)
        size += item_size
    if batch:
        yield batch


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _sha1(source: str) -> str:
    return hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


def _closed_by_peer(connection: AbstractConnection) -> bool:
    """Whether an idle connection's socket has been closed by the server."""
    try:
        return bool(connection.can_read(timeout=0))
    except (redis.ConnectionError, OSError):
        return True
