"""The database backend's queues and groups, as :mod:`~channels_core.backends.inspect_base` reports them.

Two aggregate queries over the backend's tables (``QueuedMessage``,
``GroupMember``), live rows only; deadlines are seconds since the epoch, on
the clocks of the processes that wrote them, as the backend itself reads them.
"""

from __future__ import annotations

import time

from django.db import InterfaceError, OperationalError
from django.db.models import Count, Min

from ..exceptions import BackendUnavailable
from ..models import GroupMember, QueuedMessage
from ..names import inbox_of
from .database import DatabaseBackend
from .inspect_base import MembershipCount, QueueState, age_of_oldest

__all__ = ["memberships", "queues"]


def queues(backend: DatabaseBackend) -> list[QueueState]:
    """Every queue holding live entries, with one ``GROUP BY`` query.

    The oldest entry has the earliest deadline, since a queue's entries all
    live its one expiry.
    """
    now = time.time()
    try:
        rows = list(
            QueuedMessage.objects.using(backend.database)
            .filter(expires__gt=now)
            .values("queue")
            .annotate(depth=Count("id"), first_deadline=Min("expires"))
            .order_by("queue")
        )
    except (OperationalError, InterfaceError) as error:
        raise _unavailable(backend, error) from error
    states = []
    for row in rows:
        expiry = backend.expiry_for(row["queue"])
        age = age_of_oldest(row["first_deadline"], expiry, now)
        states.append(QueueState(row["queue"], row["depth"], age, backend.capacity_for(row["queue"]), expiry))
    return states


def memberships(backend: DatabaseBackend) -> list[MembershipCount]:
    """The live members of every group, counted by the queue they are stored in.

    The table keeps channels, not their queues, so the counting by queue is
    done here: the database backend is for modest traffic, and so for
    modest numbers of members.
    """
    try:
        rows = list(
            GroupMember.objects.using(backend.database)
            .filter(expires__gt=time.time())
            .values_list("group", "channel")
            .iterator()
        )
    except (OperationalError, InterfaceError) as error:
        raise _unavailable(backend, error) from error
    counts: dict[tuple[str, str], int] = {}
    for group, channel in rows:
        key = (group, inbox_of(channel))
        counts[key] = counts.get(key, 0) + 1
    return [MembershipCount(group, queue, count) for (group, queue), count in counts.items()]


def _unavailable(backend: DatabaseBackend, error: Exception) -> BackendUnavailable:
    return BackendUnavailable(f"database {backend.database!r} is unavailable: {' '.join(str(error).split())}")
