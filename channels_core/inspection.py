"""A look inside one channel backend: its queues, groups, presence sets and interface servers, now.

What ``python manage.py channels`` prints and the admin's "Channels" page
shows::

    from channels_core.inspection import inspect_backend, inspect_group

    snapshot = inspect_backend("default")
    for queue in snapshot.queues:
        print(queue.queue, queue.depth, queue.oldest_age)
    print(inspect_group("chat-lobby").members)

Each backend kind is read by a module of its own, beside it
(:mod:`~channels_core.backends.inspect_memory`,
:mod:`~channels_core.backends.inspect_database`,
:mod:`~channels_core.backends.inspect_redis`); presence sets live in the
database whatever the backend (:mod:`channels_core.presence`), and servers
announce themselves in a group (:mod:`channels_core.servers`). Reading
changes nothing, and every number counts live things only: an expired message
or membership is not there any more for a receiver, so not for the reader either.

The in-memory backend can only be inspected from inside the process that
holds it (``runserver``, whose admin page shows it; or a test).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Count

from . import defaults
from .backends import BaseBackend, get_backend, inspect_database, inspect_memory, inspect_redis
from .backends.database import DatabaseBackend
from .backends.inspect_base import MembershipCount, QueueState
from .backends.memory import InMemoryBackend
from .backends.redis import RedisBackend
from .backends.redis_cluster import RedisClusterBackend
from .models import PresenceMember
from .names import validate_group_name
from .presence import Presence
from .servers import SERVERS_GROUP, servers_alive

__all__ = [
    "GroupDetail",
    "GroupState",
    "PresenceState",
    "QueueState",
    "ServerState",
    "Snapshot",
    "inspect_backend",
    "inspect_group",
]


@dataclass(frozen=True, slots=True)
class GroupState:
    """A group and its live members (channels; a socket in the group is one member)."""

    group: str
    members: int


@dataclass(frozen=True, slots=True)
class PresenceState:
    """A presence set: the people in it (names, sorted) and their live sockets."""

    presence: str
    people: list[str]
    sockets: int


@dataclass(frozen=True, slots=True)
class ServerState:
    """A WebSocket server alive (it announced itself within ``GROUP_EXPIRY``).

    Attributes:
        inbox: its inbox, which names it (``!django.websocket.send.<id>``).
        memberships: live group memberships of its sockets (a socket in two groups counts twice).
        waiting: entries waiting in its inbox for it to read (replies, handled reports).
    """

    inbox: str
    memberships: int
    waiting: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything :func:`inspect_backend` read, at ``taken_at`` (seconds since the epoch)."""

    alias: str
    backend: str
    taken_at: float
    queues: list[QueueState]
    groups: list[GroupState]
    presence: list[PresenceState]
    servers: list[ServerState]

    def as_dict(self) -> dict[str, Any]:
        """The snapshot as plain JSON-ready data (what ``--json`` prints and the admin page polls)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class GroupDetail:
    """One group's live members (channel names, sorted) and the people of the presence set of the same name."""

    alias: str
    group: str
    members: list[str]
    presence: list[str]

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: How each backend kind is read: (its queues, its memberships by group and queue).
Reader = tuple[Callable[[Any], list[QueueState]], Callable[[Any], list[MembershipCount]]]


def inspect_backend(alias: str = defaults.DEFAULT_ALIAS) -> Snapshot:
    """Read the queues, groups, presence sets and servers of the backend ``alias``.

    Raises:
        TypeError: a backend kind this module does not know how to read.
        BackendUnavailable: the backend's server cannot be reached.
    """
    backend = get_backend(alias)
    read_queues, read_memberships = _reader_of(backend)
    queues = sorted(read_queues(backend), key=lambda state: state.queue)
    memberships = read_memberships(backend)
    by_group: dict[str, int] = {}
    for count in memberships:
        if count.group != SERVERS_GROUP:
            by_group[count.group] = by_group.get(count.group, 0) + count.members
    groups = [GroupState(group, members) for group, members in sorted(by_group.items())]
    servers = _servers(servers_alive(backend), memberships, queues)
    return Snapshot(alias, type(backend).__name__, time.time(), queues, groups, _presence_sets(), servers)


def inspect_group(group: str, alias: str = defaults.DEFAULT_ALIAS) -> GroupDetail:
    """The live members of ``group`` and the people in the presence set of the same name.

    Raises:
        InvalidChannelName: ``group`` is not a valid group name.
    """
    validate_group_name(group)
    members = sorted(get_backend(alias).group_channels(group))
    return GroupDetail(alias, group, members, Presence(group, alias).names())


def _reader_of(backend: BaseBackend) -> Reader:
    if isinstance(backend, InMemoryBackend):
        return inspect_memory.queues, inspect_memory.memberships
    if isinstance(backend, DatabaseBackend):
        return inspect_database.queues, inspect_database.memberships
    if isinstance(backend, RedisBackend | RedisClusterBackend):
        return inspect_redis.queues, inspect_redis.memberships
    raise TypeError(
        f"cannot inspect {type(backend).__name__} (CHANNEL_BACKENDS[{backend.alias!r}]): the inspector reads "
        "the in-memory, database, Redis and Redis Cluster backends"
    )


def _servers(
    inboxes: Sequence[str], memberships: Sequence[MembershipCount], queues: Sequence[QueueState]
) -> list[ServerState]:
    waiting = {state.queue: state.depth for state in queues}
    servers = []
    for inbox in inboxes:
        in_groups = sum(c.members for c in memberships if c.queue == inbox and c.group != SERVERS_GROUP)
        servers.append(ServerState(inbox, in_groups, waiting.get(inbox, 0)))
    return servers


def _presence_sets() -> list[PresenceState]:
    """Every presence set with someone in it, from the database (where presence lives on every backend)."""
    rows = (
        PresenceMember.objects.filter(expires__gt=time.time())
        .values("presence", "name")
        .annotate(sockets=Count("id"))
        .order_by("presence", "name")
    )
    people: dict[str, list[str]] = {}
    sockets: dict[str, int] = {}
    for row in rows:
        people.setdefault(row["presence"], []).append(row["name"])
        sockets[row["presence"]] = sockets.get(row["presence"], 0) + row["sockets"]
    return [PresenceState(name, people[name], sockets[name]) for name in people]
