"""Group history: where a message stands in its group, and what a member recovered when it joined.

A group named in a backend's ``GROUP_HISTORY`` keeps its last messages. Each
message sent to it is numbered: its :class:`Position` is the group, the
history's **epoch** (a random string made when the history is made) and an
**offset** that grows by one per send, from 1 (offset 0 is "before the first
send"). A member that comes back with the position of the last message it
saw (``Group(name).add(channel, since=position)``) gets every message after
it, in order, before any newer one: the :class:`Recovery` says so. When the
history cannot cover that position (it was lost, so its epoch changed; or it
no longer keeps messages that old), nothing is replayed and the recovery says
``recovered=False``: the client must reload what it shows.

The backends store the history; this module holds what they share.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..exceptions import InvalidMessage
from ..messages import Message, with_position

if TYPE_CHECKING:
    from .storage import GroupSendResult

__all__ = [
    "POSITION_KEY",
    "GroupHistoryHooks",
    "HistoryKeptByStore",
    "HistoryStore",
    "Position",
    "Recovery",
    "covers",
    "new_epoch",
    "position_reserve",
    "refuse_position_key",
]

#: The key a group with history adds to each message it delivers.
POSITION_KEY = "position"

#: Hex digits of an epoch: 64 random bits, so a new history never takes an old one's epoch by chance.
EPOCH_LENGTH = 16

#: The largest offset a position may hold (a signed 64-bit integer, as the stores keep it).
MAX_OFFSET = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Position:
    """Where a message stands in its group's history.

    Attributes:
        group: the group's name.
        epoch: the history's epoch; another epoch is another history.
        offset: the message's number in the history (0: before the first message).
    """

    group: str
    epoch: str
    offset: int

    @classmethod
    def parse(cls, value: object, group: str) -> Position:
        """The position a client sent back (a dict such as :meth:`as_dict` gives), checked for ``group``.

        Raises:
            ValueError: ``value`` is not such a dict for ``group``; the message
                says what is wrong. It comes from a browser, so a consumer
                passing it on should catch this and tell the client.
        """
        if not isinstance(value, dict):
            raise ValueError(f"a position is a dict with group, epoch and offset, not {type(value).__name__}")
        keys, expected = set(value), {"group", "epoch", "offset"}
        if keys != expected:
            missing, unexpected = sorted(expected - keys), sorted(map(str, keys - expected))
            raise ValueError(
                f"a position has the keys group, epoch and offset (missing {missing}, unexpected {unexpected})"
            )
        if value["group"] != group:
            raise ValueError(f"the position is in group {value['group']!r}, not {group!r}")
        epoch, offset = value["epoch"], value["offset"]
        if not isinstance(epoch, str) or not epoch:
            raise ValueError(f"a position's epoch is a non-empty string, not {epoch!r}")
        if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= MAX_OFFSET:
            raise ValueError(f"a position's offset is an integer from 0 to {MAX_OFFSET}, not {offset!r}")
        return cls(group, epoch, offset)

    def as_dict(self) -> Message:
        """The JSON-ready form that messages carry and pages render: ``{"group", "epoch", "offset"}``."""
        return {"group": self.group, "epoch": self.epoch, "offset": self.offset}


@dataclass(frozen=True, slots=True)
class Recovery:
    """What ``Group(name).add(channel, since=position)`` did besides adding the member.

    Attributes:
        recovered: whether the member got every message after ``since``;
            ``False`` when the history could not cover it, and then nothing
            was replayed: the client has missed messages and must reload.
        replayed: how many messages were put on the channel.
    """

    recovered: bool
    replayed: int


def new_epoch() -> str:
    """A fresh epoch for a history that starts now."""
    return secrets.token_hex(EPOCH_LENGTH // 2)


def covers(since: Position, epoch: str, offset: int, size: int) -> bool:
    """Whether a history at ``epoch`` and ``offset``, keeping its last ``size`` messages, holds all after ``since``.

    ``since`` may be the newest offset (nothing to replay) or one before the
    oldest message kept; an offset beyond the newest is from another history.
    """
    return since.epoch == epoch and max(0, offset - size) <= since.offset <= offset


def position_reserve(group: str) -> int:
    """The most bytes :func:`~channels_core.messages.with_position` adds to a message of ``group``."""
    largest = Position(group, "f" * EPOCH_LENGTH, MAX_OFFSET).as_dict()
    return len(with_position(b'{"":0}', largest)) - len(b'{"":0}')


def refuse_position_key(group: str, message: Any) -> None:
    """Refuse a message that carries a ``position`` already: the group's history numbers its messages."""
    if isinstance(message, dict) and POSITION_KEY in message:
        raise InvalidMessage(
            f"message to group {group!r} has a {POSITION_KEY!r} key; the group keeps a history "
            f"(GROUP_HISTORY), which adds each message's position under that key"
        )


class GroupHistoryHooks:
    """The storage a backend adds for groups with history, each method one atomic step.

    :class:`~channels_core.backends.base.BaseBackend` validates and encodes,
    then calls these; a backend without history support raises
    :exc:`NotImplementedError` from them.
    """

    alias: str
    history_size_for: Callable[[str], int]

    def _group_position(self, group: str, size: int) -> Position:
        """The position of ``group``'s history, made at offset 0 with a new epoch if it has none; refresh its expiry."""
        raise NotImplementedError(f"{type(self).__name__} keeps no group history (GROUP_HISTORY) yet")

    def _group_send_history(self, group: str, payload: bytes, size: int) -> GroupSendResult:
        """Atomically: number the message (its position added to ``payload``), keep the last ``size``, deliver it.

        The history is made, and its expiry refreshed, as by :meth:`_group_position`.
        """
        raise NotImplementedError(f"{type(self).__name__} keeps no group history (GROUP_HISTORY) yet")

    def _group_add_since(self, group: str, channel: str, since: Position, size: int) -> Recovery:
        """Atomically: add the member and, if the history covers ``since``, put the messages after it on ``channel``.

        The replay ignores the channel's capacity: it is bounded by ``size``,
        and refusing it would make the client reload.
        """
        raise NotImplementedError(f"{type(self).__name__} keeps no group history (GROUP_HISTORY) yet")

    def _history_size(self, group: str) -> int:
        size = self.history_size_for(group)
        if not size:
            raise ValueError(
                f"group {group!r} has no history: no GROUP_HISTORY rule of backend {self.alias!r} names it"
            )
        return size


class HistoryStore(Protocol):
    """What keeps a backend's histories when the backend hands them to a helper (the Redis backends do)."""

    def position(self, group: str) -> Position: ...

    def send(self, group: str, payload: bytes, size: int) -> GroupSendResult: ...

    def add_since(self, group: str, channel: str, since: Position, size: int) -> Recovery: ...


class HistoryKeptByStore(GroupHistoryHooks):
    """The storage hooks of a backend whose :class:`HistoryStore` is ``self.history_store``: each one call to it."""

    history_store: HistoryStore

    def _group_position(self, group: str, size: int) -> Position:
        return self.history_store.position(group)

    def _group_send_history(self, group: str, payload: bytes, size: int) -> GroupSendResult:
        return self.history_store.send(group, payload, size)

    def _group_add_since(self, group: str, channel: str, since: Position, size: int) -> Recovery:
        return self.history_store.add_since(group, channel, since, size)
