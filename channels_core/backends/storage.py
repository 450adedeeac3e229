"""What the backend interface stores and hands back: entries in queues, prepared messages, group-send results.

A normal channel is its own queue; a response channel is stored in its
inbox's queue (:func:`group_by_queue`). An :data:`Entry` is one encoded
message for one or more channels of one queue: a group send puts a single
entry in each inbox it reaches, naming every member there. Every backend
(:class:`~channels_core.backends.base.BaseBackend` and its storage methods)
speaks in these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..exceptions import ChannelFull
from ..messages import Message
from ..names import inbox_of

__all__ = ["Entry", "GroupSendResult", "InboxEntry", "PreparedMessage", "group_by_queue"]

#: What a queue holds, the channels an encoded message is for and the message.
Entry = tuple[Sequence[str], bytes]
#: An entry of a response inbox as read, the channels a message is for and the message.
InboxEntry = tuple[Sequence[str], Message]


class GroupSendResult:
    """How many members one group send reached and skipped, and the message's ``position``.

    Returned by :meth:`~channels_core.backends.base.BaseBackend.group_send`.

    The position (``{"group", "epoch", "offset"}``) is ``None`` in a group without history.
    """

    __slots__ = ("delivered", "position", "skipped")

    def __init__(self, delivered: int = 0, skipped: int = 0) -> None:
        self.delivered = delivered
        self.skipped = skipped
        self.position: Message | None = None

    def add(self, other: GroupSendResult) -> None:
        self.delivered += other.delivered
        self.skipped += other.skipped

    def __repr__(self) -> str:
        return f"GroupSendResult(delivered={self.delivered}, skipped={self.skipped})"


@dataclass(frozen=True, slots=True)
class PreparedMessage:
    """A message validated and encoded by :meth:`~channels_core.backends.base.BaseBackend.prepare`, ready to be stored.

    Attributes:
        channel: where it goes.
        queue: the queue that stores it (the channel, or a response channel's inbox).
        payload: its encoding.
        capacity: that queue's capacity.
    """

    channel: str
    queue: str
    payload: bytes
    capacity: int

    def full(self) -> ChannelFull:
        """The error of a send that found the queue full."""
        shared = f", shared with the other channels of inbox {self.queue!r}" if self.queue != self.channel else ""
        return ChannelFull(f"channel {self.channel!r} is full (capacity {self.capacity}{shared})")


def group_by_queue(channels: Sequence[str]) -> dict[str, list[str]]:
    """Channels by the queue they are stored in, keeping their order."""
    queues: dict[str, list[str]] = {}
    for channel in channels:
        queues.setdefault(inbox_of(channel), []).append(channel)
    return queues
