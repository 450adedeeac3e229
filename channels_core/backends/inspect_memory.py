"""The in-memory backend's queues and groups, as :mod:`~channels_core.backends.inspect_base` reports them.

Only the process that holds the backend sees anything: ``runserver`` (where
the admin page runs in the same process), or a test.
"""

from __future__ import annotations

import time

from ..names import inbox_of
from .inspect_base import MembershipCount, QueueState, age_of_oldest
from .memory import InMemoryBackend

__all__ = ["memberships", "queues"]


# The backend's storage is its own dicts and its lock; this module is its
# sibling in the package and reads them as the backend's own methods do.


def queues(backend: InMemoryBackend) -> list[QueueState]:
    """Every queue holding live entries; deadlines are on the ``time.monotonic`` clock."""
    states = []
    with backend._arrived:
        now = time.monotonic()
        for queue, entries in backend._queues.items():
            live = [deadline for deadline, _, _ in entries if deadline > now]
            if not live:
                continue
            expiry = backend.expiry_for(queue)
            age = age_of_oldest(live[0], expiry, now)
            states.append(QueueState(queue, len(live), age, backend.capacity_for(queue), expiry))
    return states


def memberships(backend: InMemoryBackend) -> list[MembershipCount]:
    """The live members of every group, counted by the queue they are stored in."""
    counts: dict[tuple[str, str], int] = {}
    with backend._arrived:
        now = time.monotonic()
        for group, members in backend._groups.items():
            for channel, expires in members.items():
                if expires > now:
                    key = (group, inbox_of(channel))
                    counts[key] = counts.get(key, 0) + 1
    return [MembershipCount(group, queue, count) for (group, queue), count in counts.items()]
