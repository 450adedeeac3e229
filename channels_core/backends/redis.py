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

import functools
import hashlib
import itertools
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

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
from .redis_pool import ConnectionPool

__all__ = ["RedisBackend"]

T = TypeVar("T")

#: Longest blocking pop while listening on several shards, so a message on
#: another shard waits at most about this long per shard.
SHARD_POLL_SLICE = 0.05
#: Seconds between two readings of a server's clock (for dropping expired entries).
CLOCK_CHECK_EVERY = 30.0
#: Most messages, and about the most bytes, stored by one script call of ``send_many``.
SEND_BATCH_COUNT = 100
SEND_BATCH_BYTES = 1024 * 1024
#: Most connections one process holds to one Redis server (the ``POOL_SIZE`` key's default). Each
#: thread holds at most one per server at a time, and only a receive holds one for long (a blocking
#: pop). The busiest processes: ``runworker --threads 8`` (8 threads, each blocked in a pop or
#: sending its replies), a gunicorn process as config/gunicorn.conf.py deploys it (32 request
#: threads that send, one of them reading the inbox), ``runwsserver`` (its inbox reader, its
#: outbox). Even all of them in one process, as ``runserver`` nearly is, need 43; 64 leaves room.
POOL_SIZE = 64
#: Error replies (their codes) that mean the server cannot serve now, whatever the command:
#: loading its data, a replica (after a failover), out of memory, busy in a script, unable to
#: persist or replicate, a cluster or a replica without its nodes. They reach callers as
#: BackendUnavailable, as a lost connection does; other error replies are bugs or misconfigurations.
REFUSALS = frozenset(
    {"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "OOM", "BUSY", "MISCONF", "NOREPLICAS"}
)
_SCRIPTS = ("SEND", "GROUP_ADD", "GROUP_DISCARD", "GROUP_CHANNELS", "GROUP_SEND")


class _Shard:
    """One Redis server, reached through a bounded pool of connections (:mod:`~channels_core.backends.redis_pool`)."""

    def __init__(self, url: str, config: Mapping[str, Any]) -> None:
        self.url = url
        self.socket_timeout = float(config.get("SOCKET_TIMEOUT", 5.0))
        options = parse_url(url)  # type: ignore[no-untyped-call]
        connection_class = options.pop("connection_class", redis.Connection)
        options.update(
            socket_timeout=self.socket_timeout,
            socket_connect_timeout=float(config.get("CONNECT_TIMEOUT", 2.0)),
            # No automatic retries: a send retried after a lost reply could deliver twice.
            retry=Retry(NoBackoff(), 0),
        )
        size = int(config.get("POOL_SIZE", POOL_SIZE))
        if size < 1:
            raise ImproperlyConfigured(f"the Redis backend's POOL_SIZE must be 1 or more, not {size!r}")
        # Longer than the longest blocking pop (half the socket timeout), so a pool
        # that only blocked receives hold frees a connection in time.
        pool_timeout = float(config.get("POOL_TIMEOUT", self.socket_timeout))
        self.pool = ConnectionPool(functools.partial(connection_class, **options), size, pool_timeout, url)
        self.scripts = {name: getattr(redis_lua, name) for name in _SCRIPTS}
        self.shas = {name: _sha1(source) for name, source in self.scripts.items()}
        self._clock_offset_ms = 0.0
        self._clock_read_at = -CLOCK_CHECK_EVERY

    def call(self, *args: Any) -> Any:
        """Send one command and read its reply; the server's failures become :exc:`BackendUnavailable`."""
        return self.lend(lambda connection: _command(connection, args))

    def call_many(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Send several commands in one write and read every reply (a pipeline: one round trip).

        Error replies come back in the list: :exc:`BackendUnavailable` for those
        meaning the server cannot serve now, :exc:`redis.ResponseError` for others.
        """
        replies = self.lend(lambda connection: _pipeline(connection, commands))
        return [self._unavailable(reply) if _refused(reply) else reply for reply in replies]

    def lend(self, talk: Callable[[AbstractConnection], T]) -> T:
        """Run ``talk`` on a pooled connection: one command, one blocking pop or one pipeline.

        The server's failures come out as :exc:`BackendUnavailable`. A connection
        that failed goes back disconnected, to reconnect on its next use: a reply
        half read, or a socket to a server that went away, must not reach the
        next borrower. (A function rather than a context manager: a generator
        per command would cost more than the pool itself.)
        """
        connection = self.pool.take()
        try:
            return talk(connection)
        except redis.ResponseError as error:  # a whole reply was read: the connection is in step
            if not _refused(error):
                raise
            connection.disconnect()  # type: ignore[no-untyped-call]
            raise self._unavailable(error) from error
        except (redis.ConnectionError, redis.TimeoutError, OSError) as error:
            connection.disconnect()  # type: ignore[no-untyped-call]
            raise self._unavailable(error) from error
        except BaseException:
            connection.disconnect()  # type: ignore[no-untyped-call]
            raise
        finally:
            self.pool.give_back(connection)

    def _unavailable(self, error: Exception) -> BackendUnavailable:
        self._clock_read_at = -CLOCK_CHECK_EVERY  # it may be another server when we are back
        return BackendUnavailable(f"Redis at {self.url} is unavailable: {_described(error)}")

    def run(self, script: str, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """Run one of the backend's Lua scripts, loading it first if this server lacks it."""
        try:
            return self.call("EVALSHA", self.shas[script], len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:  # a new or restarted server: the script never ran
            self.call("SCRIPT", "LOAD", self.scripts[script])
            return self.call("EVALSHA", self.shas[script], len(keys), *keys, *args)

    def run_many(self, script: str, calls: Sequence[tuple[Sequence[Any], Sequence[Any]]]) -> list[Any]:
        """Run a script once per ``(keys, args)``, all in one round trip (two if the server lacks it).

        A call the server refused (out of memory, say) has a :exc:`BackendUnavailable`
        for its reply, so the others still report what they did.
        """
        commands = [("EVALSHA", self.shas[script], len(keys), *keys, *args) for keys, args in calls]
        replies = self.call_many(commands)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, redis.exceptions.NoScriptError)]
        if missing:  # a script that was not there did not run: running it now is safe
            self.call("SCRIPT", "LOAD", self.scripts[script])
            for i, reply in zip(missing, self.call_many([commands[i] for i in missing]), strict=True):
                replies[i] = reply
        for reply in replies:
            if isinstance(reply, redis.ResponseError):  # a bug or a misconfiguration, not an outage
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
        self.pool.close()


class RedisBackend(BaseBackend):
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


def _command(connection: AbstractConnection, args: Sequence[Any]) -> Any:
    connection.send_command(*args)  # type: ignore[no-untyped-call]
    return connection.read_response()


def _pipeline(connection: AbstractConnection, commands: Sequence[Sequence[Any]]) -> list[Any]:
    """Every reply to ``commands``, error replies included; the connection is dropped after a refusal.

    After a failover, a new connection may reach the new primary (behind a DNS
    name or a proxy), as it does after :meth:`_Shard.lend` sees one refused command.
    """
    connection.send_packed_command(connection.pack_commands(commands))  # type: ignore[no-untyped-call]
    replies = [_reply(connection) for _ in commands]
    if any(_refused(reply) for reply in replies):
        connection.disconnect()  # type: ignore[no-untyped-call]
    return replies


def _reply(connection: AbstractConnection) -> Any:
    """The next reply on ``connection``; an error reply is returned, not raised."""
    try:
        return connection.read_response()
    except redis.ResponseError as error:
        return error


def _refused(reply: object) -> bool:
    """Whether ``reply`` is an error reply meaning the server cannot serve now (see :data:`REFUSALS`)."""
    return isinstance(reply, redis.ResponseError) and _code(reply) in REFUSALS


def _code(error: redis.RedisError) -> str:
    """An error reply's code (redis-py keeps the codes it knows apart from the text)."""
    return error.status_code or str(error).partition(" ")[0]


def _described(error: Exception) -> str:
    """The error as the server or the socket put it, with its code."""
    if isinstance(error, redis.RedisError) and error.status_code and error.status_code != "ERR":
        return f"{error.status_code} {error}"
    return str(error)
