"""``Channel`` and ``Group``: the handles user code sends through.

Both are cheap value objects; the backend does the work::

    Channel("thumbnailer.create").send({"image_id": 7})
    Group("liveblog").send(id=1, content="...")
"""

from __future__ import annotations

from typing import Any, overload

from .backends import BaseBackend, get_backend
from .backends.history import Recovery
from .backends.storage import GroupSendResult
from .context import current_alias
from .held_replies import send_in_order, store_held_replies
from .messages import Message
from .names import new_channel_name, validate_channel_name, validate_group_name

__all__ = ["Channel", "Group"]


def _message_from(message: Message | None, kwargs: dict[str, Any]) -> Message:
    if message is not None and kwargs:
        raise TypeError("send() takes a dict or keyword arguments, not both")
    return kwargs if message is None else message


class Channel:
    """A named channel on one backend.

    Args:
        name: the channel's name (see :mod:`channels_core.names` for the rules).
        alias: which entry of ``CHANNEL_BACKENDS`` carries it; by default the
            one the message being handled came through (see
            :mod:`channels_core.context`), else ``"default"``.
    """

    def __init__(self, name: str, alias: str | None = None) -> None:
        self.name = validate_channel_name(name)
        self.alias = current_alias() if alias is None else alias

    def __repr__(self) -> str:
        return f"Channel({self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Channel) and (self.name, self.alias) == (other.name, other.alias)

    def __hash__(self) -> int:
        return hash((self.name, self.alias))

    @property
    def backend(self) -> BaseBackend:
        return get_backend(self.alias)

    def send(self, message: Message | None = None, /, **kwargs: Any) -> None:
        """Send a message, given as one dict or as keyword arguments.

        Raises:
            ChannelFull: the channel holds its capacity of messages already.
            InvalidMessage, MessageTooLarge: the message is not a JSON-encodable dict of at most 1 MiB.
        """
        # Under a batching worker, replies to sockets are held (see channels_core.held_replies).
        send_in_order(self.backend, self.name, _message_from(message, kwargs))

    @staticmethod
    def new_name(prefix: str) -> str:
        """A unique, unguessable channel name below ``prefix`` (e.g. ``"!django.wsgi.response"``)."""
        return new_channel_name(prefix)


class Group:
    """A named set of channels that receive one copy of each message sent to it.

    Members expire after ``GROUP_EXPIRY`` seconds unless added again, so the
    clients of an interface server that died drop out on their own.

    A group named in the backend's ``GROUP_HISTORY`` keeps its last messages
    and numbers them: each reaches its members with a ``"position"`` key, and
    a member coming back with the last position it saw gets what it missed
    (:meth:`add` with ``since``; see :mod:`channels_core.backends.history`).

    Args:
        name: the group's name (the rules of channel names, without ``!``).
        alias: as for :class:`Channel`.
    """

    def __init__(self, name: str, alias: str | None = None) -> None:
        self.name = validate_group_name(name)
        self.alias = current_alias() if alias is None else alias

    def __repr__(self) -> str:
        return f"Group({self.name!r})"

    @property
    def backend(self) -> BaseBackend:
        return get_backend(self.alias)

    @overload
    def add(self, channel: str) -> None: ...
    @overload
    def add(self, channel: str, since: dict[str, Any]) -> Recovery: ...
    @overload
    def add(self, channel: str, since: object = None) -> Recovery | None: ...

    def add(self, channel: str, since: object = None) -> Recovery | None:
        """Add ``channel``, or refresh its membership if it is one already.

        Args:
            since: in a group with history, the position of the last message
                the client saw (``{"group", "epoch", "offset"}``, as a message
                carried it or :meth:`position` gave it to a page). Every
                message after it is put on ``channel``, in order, before any
                message sent after this add.

        Returns:
            ``None`` without ``since``. With it, a
            :class:`~channels_core.backends.history.Recovery`: whether the
            channel got every message after ``since`` (``recovered``) and how
            many (``replayed``). When the history could not cover ``since``
            (it was lost, or no longer keeps messages that old), nothing is
            replayed, ``recovered`` is ``False``, and the client must reload.

        Raises:
            ValueError: ``since`` is not a position of this group (it comes
                from a client: catch this and tell the client), or the group
                has no history.
        """
        backend = self.backend
        if since is not None:
            store_held_replies(backend)  # the replay is a send: this thread's replies so far go first
        return backend.group_add(self.name, channel, since)

    def position(self) -> dict[str, Any]:
        """The position of the latest message, ``{"group", "epoch", "offset"}``, JSON-ready for a page.

        A page renders it so that its socket, joining later, gets what was
        sent in between (``add(channel, since=position)``). Starts the
        group's history (offset 0) if it has none, and keeps the history
        ``GROUP_HISTORY_EXPIRY`` seconds more.

        Raises:
            ValueError: the group has no history (no ``GROUP_HISTORY`` rule names it).
        """
        return self.backend.group_position(self.name)

    def discard(self, channel: str) -> None:
        """Remove ``channel``; removing a channel that is not a member does nothing."""
        self.backend.group_discard(self.name, channel)

    def channels(self) -> list[str]:
        """The live members, in no particular order."""
        return self.backend.group_channels(self.name)

    def send(self, message: Message | None = None, /, **kwargs: Any) -> GroupSendResult:
        """Send one copy to every live member; full members are skipped, never raised.

        In a group with history, the message must not have a ``position``
        key (:exc:`~channels_core.exceptions.InvalidMessage`): each copy gets
        the message's position there, and the result's ``position`` says it.
        """
        backend = self.backend
        store_held_replies(backend)  # this thread's replies so far go first
        return backend.group_send(self.name, _message_from(message, kwargs))
