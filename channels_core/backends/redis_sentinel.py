"""Redis Sentinel for the Redis backend: an entry of ``HOSTS`` that follows its primary across a failover.

An entry ``redis+sentinel://host:26379,host:26380/mymaster/0`` names the
Sentinels watching a service (``mymaster``) and a database number. Each
connection asks the Sentinels for the service's primary when it connects,
and only then: a connection that failed, or that found its server demoted
(``READONLY``), is dropped by the backend's pool (``redis_shard.Shard``)
and asks again on its next use. So the backend follows a failover without a
restart; the calls in between get
:exc:`~channels_core.exceptions.BackendUnavailable` and are never retried,
as with one plain Redis.

Sentinel gives one primary with replicas: the same storage as one Redis, and
with client-side sharding several such entries are several shards, each
with its own failover. What a failover loses is in ``docs/topics/backends.rst``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from django.core.exceptions import ImproperlyConfigured
from redis.sentinel import Sentinel

__all__ = ["SCHEME", "SentinelConnection", "SentinelURL", "is_sentinel_url"]

#: The URL scheme of an entry of ``HOSTS`` that names Sentinels.
SCHEME = "redis+sentinel"


def is_sentinel_url(url: str) -> bool:
    """Whether an entry of ``HOSTS`` names Sentinels rather than a server."""
    return url.startswith(SCHEME + "://")


@dataclass(frozen=True)
class SentinelURL:
    """``redis+sentinel://[[user]:password@]host:port[,host:port...]/service[/db]``, parsed.

    The user name and password are the primary's (Sentinels are asked
    without them, as ``redis-cli -p 26379`` asks).
    """

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> SentinelURL:
        """Parse an entry of ``HOSTS``; a malformed one is :exc:`ImproperlyConfigured`, naming what is wrong."""
        parts = urlsplit(url)
        if parts.scheme != SCHEME:
            raise ImproperlyConfigured(f"{url!r} is not a {SCHEME}:// URL")
        credentials, _, hosts = parts.netloc.rpartition("@")
        username, _, password = credentials.partition(":")
        path = [segment for segment in parts.path.split("/") if segment]
        if not hosts or not 1 <= len(path) <= 2:
            raise ImproperlyConfigured(
                f"{url!r}: a Sentinel URL is {SCHEME}://host:port[,host:port...]/service[/db], "
                "e.g. redis+sentinel://127.0.0.1:26379/mymaster/0"
            )
        sentinels = tuple(_address(url, host) for host in hosts.split(","))
        try:
            db = int(path[1]) if len(path) == 2 else 0
        except ValueError:
            raise ImproperlyConfigured(f"{url!r}: the database must be a number, not {path[1]!r}") from None
        return cls(sentinels, unquote(path[0]), db, unquote(username) or None, unquote(password) if password else None)

    def connection_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """Keyword arguments for :class:`SentinelConnection`: ``options`` (timeouts, retry) and where to ask."""
        timeouts = {key: options[key] for key in ("socket_timeout", "socket_connect_timeout") if key in options}
        sentinel = Sentinel(list(self.sentinels), **timeouts)  # type: ignore[no-untyped-call]
        return {
            **options,
            "sentinel": sentinel,
            "service": self.service,
            "db": self.db,
            "username": self.username,
            "password": self.password,
        }


class SentinelConnection(redis.Connection):
    """A connection to the server the Sentinels name as ``service``'s primary, asked at each connect.

    Asking at each connect, not at each command: a command costs no more
    than on a plain connection. The Sentinels that do not answer are
    skipped; when none names a primary, the connect fails with
    :exc:`redis.sentinel.MasterNotFoundError`, a :exc:`redis.ConnectionError`.
    """

    def __init__(self, *, sentinel: Sentinel, service: str, **options: Any) -> None:
        super().__init__(**options)  # type: ignore[no-untyped-call]
        self.sentinel = sentinel
        self.service = service

    def connect(self) -> None:
        if not self.is_connected:
            self.host, self.port = self.sentinel.discover_master(self.service)  # type: ignore[no-untyped-call]
        super().connect()  # type: ignore[no-untyped-call]

    def __repr__(self) -> str:
        return f"<SentinelConnection service={self.service!r} primary={self.host}:{self.port}>"


def _address(url: str, host: str) -> tuple[str, int]:
    name, _, port = host.rpartition(":")
    if not name or not port.isdigit():
        raise ImproperlyConfigured(f"{url!r}: each Sentinel is host:port, not {host!r}")
    return name, int(port)
