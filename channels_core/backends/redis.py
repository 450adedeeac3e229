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
from collections.abc import Mapping, Sequence
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.connection import AbstractConnection, parse_url
from redis.retry import Retry

from .. import defaults
from ..exceptions import BackendUnavailable
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
_SCRIPTS = ("SEND", "RECEIVE", "GROUP_ADD", "GROUP_DISCARD", "GROUP_CHANNELS", "GROUP_SEND")


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
            connection.disconnect()  # type: ignore[no-untyped-call]
            raise BackendUnavailable(f"Redis at {self.url} is unavailable: {error}") from error

    def run(self, script: str, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """Run one of the backend's Lua scripts, loading it first if this server lacks it."""
        try:
            return self.call("EVALSHA", self.shas[script], len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:  # a new or restarted server: the script never ran
            self.call("SCRIPT", "LOAD", self.scripts[script])
            return self.call("EVALSHA", self.shas[script], len(keys), *keys, *args)

    def close(self) -> None:
        with self._lock:
            for connection in self._connections:
                connection.disconnect()  # type: ignore[no-untyped-call]
            self._connections.clear()
        self._local = threading.local()


class RedisBackend(BaseBackend):
    """Channels and groups in Redis (6.2 or newer).

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
        self._expiry_ms = int(self.expiry * 1000)
        self._group_expiry_ms = int(self.group_expiry * 1000)
        self._capacity_args: list[Any] = [self.capacity]
        for glob, capacity in self.capacity_rules:
            self._capacity_args += [redis_lua.lua_pattern(glob), capacity]
        self._rotation = itertools.count()

    def _queue_key(self, queue: str) -> str:
        return f"{self.prefix}q:{queue}"

    def _shard_for(self, queue: str) -> _Shard:
        return self.shards[self.ring.shard_of(queue)]

    # Messages.

    def _push(self, queue: str, channels: Sequence[str], payload: bytes, capacity: int) -> bool:
        (channel,) = channels  # group sends have their own script
        return bool(
            self._shard_for(queue).run("SEND", [self._queue_key(queue)], [channel, payload, capacity, self._expiry_ms])
        )

    def _pop(self, queues: list[str], timeout: float, limit: int) -> list[Entry]:
        by_shard: dict[int, list[str]] = {}
        for queue in queues:
            by_shard.setdefault(self.ring.shard_of(queue), []).append(self._queue_key(queue))
        listens = [(self.shards[i], keys) for i, keys in by_shard.items()]
        # Start at a different shard each call so no shard's channels starve.
        turn = next(self._rotation) % len(listens)
        listens = listens[turn:] + listens[:turn]
        wait = SHARD_POLL_SLICE if len(listens) > 1 else listens[0][0].socket_timeout / 2
        deadline = time.monotonic() + timeout
        while True:
            for shard, keys in listens:
                entries = shard.run("RECEIVE", keys, [limit, f"{self.prefix}s:"])
                if entries:
                    return [_parse(entry) for entry in entries if entry is not None]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            shard, keys = listens[0]
            listens = listens[1:] + listens[:1]  # block on each shard in turn
            # The pop must end before the socket times out, or the client gives up first.
            popped = shard.call("BLPOP", *keys, max(min(remaining, wait), 0.01))
            if popped is not None:
                # It was pushed while we waited (the queues were empty a moment
                # ago), so it cannot have expired.
                return [self._written_out(shard, popped[1])]

    def _written_out(self, shard: _Shard, entry: bytes) -> Entry:
        """Parse an entry, fetching the members a group send's entry names (as RECEIVE does)."""
        channels, payload = _parse(entry)
        if channels[0].startswith("@"):
            members = shard.call("GET", f"{self.prefix}s:{channels[0][1:]}")
            channels = members.decode().split(",") if members else []
        return channels, payload

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
            self._expiry_ms,
            *self._capacity_args,
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


def _parse(entry: bytes) -> Entry:
    _, channels, payload = entry.split(b"|", 2)
    return channels.decode().split(","), payload


def _sha1(source: str) -> str:
    return hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


def _closed_by_peer(connection: AbstractConnection) -> bool:
    """Whether an idle connection's socket has been closed by the server."""
    try:
        return bool(connection.can_read(timeout=0))
    except (redis.ConnectionError, OSError):
        return True
