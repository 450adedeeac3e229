"""One Redis server of the Redis backend: its connections, its scripts, its clock, its refusals.

Part of :mod:`channels_core.backends.redis`, which shards queues over one
:class:`Shard` per entry of ``HOSTS``. Every command goes through a bounded
pool (:mod:`~channels_core.backends.redis_pool`), is never retried (a retried
send whose reply was lost could deliver twice), and a server that cannot
serve reaches callers as :exc:`~channels_core.exceptions.BackendUnavailable`.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis
from django.core.exceptions import ImproperlyConfigured
from redis.backoff import NoBackoff
from redis.connection import AbstractConnection, parse_url
from redis.retry import Retry

from .. import defaults
from ..exceptions import BackendUnavailable
from . import redis_history_lua, redis_lua
from .redis_pool import ConnectionPool
from .redis_sentinel import SentinelConnection, SentinelURL, is_sentinel_url

__all__ = ["POOL_SIZE", "REFUSALS", "NotSent", "Shard", "refused", "without_password"]

T = TypeVar("T")

#: Seconds between two readings of a server's clock (for dropping expired entries).
CLOCK_CHECK_EVERY = 30.0
#: The ``POOL_SIZE`` key's default (why 64: :data:`channels_core.defaults.REDIS_POOL_SIZE`).
POOL_SIZE = defaults.REDIS_POOL_SIZE
#: Error replies (their codes) that mean the server cannot serve now, whatever the command:
#: loading its data, a replica (after a failover), out of memory, busy in a script, unable to
#: persist or replicate, a cluster or a replica without its nodes. They reach callers as
#: BackendUnavailable, as a lost connection does; other error replies are bugs or misconfigurations.
REFUSALS = frozenset(
    {"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "OOM", "BUSY", "MISCONF", "NOREPLICAS"}
)
_SCRIPTS = {
    name: getattr(redis_lua, name)
    for name in (
        *("SEND", "GROUP_ADD", "GROUP_DISCARD", "GROUP_CHANNELS", "GROUP_SEND"),
        # The Redis Cluster backend's, each touching one slot (channels_core.backends.redis_cluster).
        *("MEMBER_ADD", "MEMBER_DISCARD", "QUEUE_MEMBERS", "GROUP_QUEUES", "QUEUE_GROUP_SEND"),
    )
} | {name: getattr(redis_history_lua, name) for name in redis_history_lua.__all__ if name != "POSITION_LUA"}


class NotSent(BackendUnavailable):
    """The server could not be reached: no command was sent, so sending it elsewhere is safe.

    The Redis Cluster backend asks the cluster where a slot went and tries
    there; for the Redis backend it is one more :exc:`BackendUnavailable`.
    """


class Shard:
    """One Redis server, reached through a bounded pool of connections (:mod:`~channels_core.backends.redis_pool`)."""

    def __init__(self, url: str, config: Mapping[str, Any], tell_not_sent: bool = False) -> None:
        #: The server's URL as log lines and errors show it: without its password.
        self.url = without_password(url)
        #: Whether a server that cannot be reached raises :exc:`NotSent` rather than a plain BackendUnavailable.
        self.tell_not_sent = tell_not_sent
        self.socket_timeout = float(config.get("SOCKET_TIMEOUT", defaults.REDIS_SOCKET_TIMEOUT))
        sentinel_url = SentinelURL.parse(url) if is_sentinel_url(url) else None
        options = {} if sentinel_url else parse_url(url)  # type: ignore[no-untyped-call]
        connection_class = SentinelConnection if sentinel_url else options.pop("connection_class", redis.Connection)
        options.update(
            socket_timeout=self.socket_timeout,
            socket_connect_timeout=float(config.get("CONNECT_TIMEOUT", defaults.REDIS_CONNECT_TIMEOUT)),
            # No automatic retries: a send retried after a lost reply could deliver twice.
            retry=Retry(NoBackoff(), 0),
        )
        if sentinel_url:  # the server is whichever the Sentinels name as primary when a connection connects
            options = sentinel_url.connection_options(options)
        size = int(config.get("POOL_SIZE", POOL_SIZE))
        if size < 1:
            raise ImproperlyConfigured(f"the Redis backend's POOL_SIZE must be 1 or more, not {size!r}")
        # Longer than the longest blocking pop (half the socket timeout), so a pool
        # that only blocked receives hold frees a connection in time.
        pool_timeout = float(config.get("POOL_TIMEOUT", self.socket_timeout))
        self.pool = ConnectionPool(functools.partial(connection_class, **options), size, pool_timeout, self.url)
        self.scripts: dict[str, str] = _SCRIPTS
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
        return [self._unavailable(reply) if refused(reply) else reply for reply in replies]

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
            connection.connect()  # type: ignore[no-untyped-call]
        except (redis.ConnectionError, redis.TimeoutError, OSError) as error:
            connection.disconnect()  # type: ignore[no-untyped-call]
            self.pool.give_back(connection)
            unavailable = self._unavailable(error)
            raise (NotSent(str(unavailable)) if self.tell_not_sent else unavailable) from error
        try:
            return talk(connection)
        except redis.ResponseError as error:  # a whole reply was read: the connection is in step
            if not refused(error):
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


def without_password(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***``: URLs end up in logs and error pages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    credentials = f"{parts.username or ''}:***"
    return urlunsplit(parts._replace(netloc=f"{credentials}@{parts.netloc.rpartition('@')[2]}"))


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
    if any(refused(reply) for reply in replies):
        connection.disconnect()  # type: ignore[no-untyped-call]
    return replies


def _reply(connection: AbstractConnection) -> Any:
    """The next reply on ``connection``; an error reply is returned, not raised."""
    try:
        return connection.read_response()
    except redis.ResponseError as error:
        return error


def refused(reply: object) -> bool:
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
