"""What a backend's inspector reports: its queues and its group memberships, read without changing them.

Each backend kind has a module that reads its own storage
(:mod:`~channels_core.backends.inspect_memory`,
:mod:`~channels_core.backends.inspect_database`,
:mod:`~channels_core.backends.inspect_redis`); :mod:`channels_core.inspection`
puts their answers together for the ``channels`` command and the admin page.

Only live things count: a message past its expiry, or a member past its
``GROUP_EXPIRY``, is never delivered, so it is not reported either, even if
its storage has not been reclaimed yet.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MembershipCount", "QueueState", "age_of_oldest"]


@dataclass(frozen=True, slots=True)
class QueueState:
    """One queue as it is now.

    Attributes:
        queue: the queue's name: a normal channel, or a response inbox
            (``!django.websocket.send.<server>``), which holds every response
            channel of one interface server.
        depth: the live entries waiting (what its capacity counts; a group
            message is one entry per inbox, whatever the members there).
        oldest_age: seconds the oldest live entry has waited, ``None`` when empty.
        capacity: the queue's capacity (``CAPACITY``, ``CHANNEL_CAPACITY``).
        expiry: seconds its messages live (``EXPIRY``, ``CHANNEL_EXPIRY``).
    """

    queue: str
    depth: int
    oldest_age: float | None
    capacity: int
    expiry: float


@dataclass(frozen=True, slots=True)
class MembershipCount:
    """How many live members of ``group`` are stored in ``queue`` (their channels' queue or inbox)."""

    group: str
    queue: str
    members: int


def age_of_oldest(deadline: float, expiry: float, now: float) -> float:
    """Seconds an entry has waited, from its stored deadline: it was sent ``expiry`` seconds before it.

    Never negative: clocks read a moment apart may disagree by a little.
    """
    return max(0.0, now - (deadline - expiry))
