"""The interface every channel backend implements.

Storage is in **queues** of **entries** (:mod:`~channels_core.backends.storage`):
a group send puts a single entry in each inbox it reaches, naming every member
there, and the interface server reading the inbox hands a copy to each.
Capacity counts the entries waiting in a queue.

:class:`BaseBackend` does what every backend shares (names, encoding,
capacity look-up, counting for :mod:`~channels_core.metrics`, expanding entries) and leaves storage to a few
small methods: :meth:`~BaseBackend._push`, :meth:`~BaseBackend._pop` and the group-membership methods;
:meth:`~BaseBackend._push_many` and :meth:`~BaseBackend._group_send` may be
overridden to batch. Groups with a history (``GROUP_HISTORY``) need three more,
those of :class:`~channels_core.backends.history.GroupHistoryHooks`.
Per-queue settings are :mod:`channels_core.backends.config`.

Backends are synchronous and thread-safe: a worker calls them from several
threads, and the asyncio WebSocket server from two threads of its own (one
blocks in :meth:`~BaseBackend.receive_inbox` on the server's inbox while the
other sends).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .. import defaults, metrics
from ..exceptions import BackendUnavailable, ChannelsError, InvalidChannelName
from ..messages import Message, decode_message, encode_message
from ..names import inbox_of, is_response_channel, validate_channel_name, validate_group_name
from .config import capacities_of, expiries_of, group_expiry_of, history_expiry_of, history_sizes_of
from .history import GroupHistoryHooks, Position, Recovery, position_reserve, refuse_position_key
from .storage import Entry, GroupSendResult, InboxEntry, PreparedMessage, group_by_queue

__all__ = ["BaseBackend", "Recovery"]


class BaseBackend(GroupHistoryHooks):
    """Carries messages between producers and consumers.

    Args:
        config: one entry of ``CHANNEL_BACKENDS``: ``EXPIRY``, ``CHANNEL_EXPIRY``,
            ``GROUP_EXPIRY``, ``CAPACITY``, ``CHANNEL_CAPACITY``,
            ``GROUP_HISTORY``, ``GROUP_HISTORY_EXPIRY`` and backend-specific keys.
        alias: the entry's name, for log lines.
    """

    #: Whether messages cross process boundaries (``runworker`` refuses backends that do not).
    cross_process = True

    def __init__(self, config: Mapping[str, Any], alias: str = defaults.DEFAULT_ALIAS) -> None:
        self.alias = alias
        self._expiries = expiries_of(config)
        self.expiry: float = self._expiries.default
        self.group_expiry: float = group_expiry_of(config)
        self._capacities = capacities_of(config)
        self.capacity: int = self._capacities.default
        #: The capacity of a queue (``CHANNEL_CAPACITY``, else ``CAPACITY``).
        self.capacity_for = self._capacities.look_up
        #: The expiry of a queue's messages in seconds (``CHANNEL_EXPIRY``, else ``EXPIRY``).
        self.expiry_for = self._expiries.look_up
        #: How many messages a group's history keeps (``GROUP_HISTORY``); 0 for a group without history.
        self.history_size_for = history_sizes_of(config).look_up
        #: Seconds a group's history lasts after its last send or position (``GROUP_HISTORY_EXPIRY``).
        self.history_expiry: float = history_expiry_of(config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} alias={self.alias!r}>"

    # Public surface: validates, encodes, then hands over to the storage methods.

    def send(self, channel: str, message: Message) -> None:
        """Put ``message`` at the end of ``channel``.

        Raises:
            InvalidChannelName, InvalidMessage, MessageTooLarge: bad input.
            ChannelFull: the channel's queue holds its capacity of messages already.
            BackendUnavailable: the backend's server cannot be reached.
        """
        prepared = self.prepare(channel, message)
        if not self._push(prepared.queue, [channel], prepared.payload, prepared.capacity):
            metrics.channel_full(channel)
            raise prepared.full()
        metrics.sends([channel], [None])

    def send_many(self, messages: Sequence[tuple[str, Message]]) -> list[ChannelsError | None]:
        """Send several messages, each as :meth:`send` would, in as few round trips as the backend can.

        For a producer that has many messages at once, such as an interface
        server with many clients: the Redis backend sends them all in one
        round trip per shard. Messages to one channel keep their order.

        Returns:
            An outcome for each message, in the same order, which is ``None``
            when it was sent, or the error :meth:`send` would have raised
            (nothing is raised). A message whose outcome is
            :exc:`BackendUnavailable` may or may not have been stored; like
            every failed send, it is never retried.
        """
        outcomes: list[ChannelsError | None] = [None] * len(messages)
        prepared: list[tuple[int, PreparedMessage]] = []
        for index, (channel, message) in enumerate(messages):
            try:
                prepared.append((index, self.prepare(channel, message)))
            except ChannelsError as error:
                outcomes[index] = error
        stored = self.send_prepared([message for _, message in prepared])
        for (index, _), outcome in zip(prepared, stored, strict=True):
            outcomes[index] = outcome
        return outcomes

    def prepare(self, channel: str, message: Message) -> PreparedMessage:
        """Validate and encode a message for :meth:`send_prepared`, which stores it later.

        For a sender that decides at the send which messages to store
        together, such as a batching worker holding its replies
        (:mod:`channels_core.held_replies`): bad input raises here, at the
        send that caused it, not later with the batch.

        Raises:
            InvalidChannelName, InvalidMessage, MessageTooLarge: bad input.
        """
        validate_channel_name(channel)
        payload = encode_message(channel, message)
        queue = inbox_of(channel)
        return PreparedMessage(channel, queue, payload, self.capacity_for(queue))

    def send_prepared(self, messages: Sequence[PreparedMessage]) -> list[ChannelsError | None]:
        """Store prepared messages in order, in as few round trips as the backend can.

        Returns:
            An outcome for each message, as :meth:`send_many` gives them.
        """
        if not messages:
            return []
        results = self._push_many(
            [(message.queue, [message.channel], message.payload, message.capacity) for message in messages]
        )
        outcomes = [
            message.full() if result is False else result if isinstance(result, ChannelsError) else None
            for message, result in zip(messages, results, strict=True)
        ]
        metrics.sends([message.channel for message in messages], outcomes)
        return outcomes

    def receive(self, channels: Sequence[str], timeout: float | None = 0) -> tuple[str, Message] | None:
        """Take the oldest unexpired message from the first of ``channels`` that has one.

        This is how workers read normal channels. Response channels are read by
        their interface server, through :meth:`receive_inbox`.

        Args:
            channels: normal channel names to listen on; at most one message is taken.
            timeout: seconds to wait for a message; ``0`` does not wait.

        Returns:
            ``(channel, message)``, or ``None`` when nothing came in time.
        """
        received = self.receive_many(channels, timeout, limit=1)
        return received[0] if received else None

    def receive_many(
        self, channels: Sequence[str], timeout: float | None = 0, limit: int = 1
    ) -> list[tuple[str, Message]]:
        """:meth:`receive` up to ``limit`` messages at once, in one backend round trip.

        Each channel's messages come oldest first. Redis and the in-memory
        backend take them all from the first of ``channels`` that has any; the
        database backend takes the oldest across ``channels``.

        Returns:
            ``(channel, message)`` pairs; empty when nothing came in time.
        """
        if not channels:
            raise ValueError("receive() needs at least one channel to listen on")
        for name in channels:
            if is_response_channel(validate_channel_name(name)):
                raise InvalidChannelName(
                    f"cannot receive() on response channel {name!r}: an interface server "
                    "reads response channels through their inbox with receive_inbox()"
                )
        received = [
            (channels_of_entry[0], decode_message(payload))
            for channels_of_entry, payload in self._pop(list(channels), _seconds(timeout), limit)
        ]
        metrics.received(channel for channel, _ in received)
        return received

    def receive_inbox(self, inbox: str, timeout: float | None = 0, limit: int = 100) -> list[tuple[str, Message]]:
        """:meth:`receive_inbox_entries`, with one ``(channel, message)`` pair per channel.

        Copies of one group message share one dict, so do not change it.
        """
        return [
            (channel, message)
            for channels, message in self.receive_inbox_entries(inbox, timeout, limit)
            for channel in channels
        ]

    def receive_inbox_entries(self, inbox: str, timeout: float | None = 0, limit: int = 100) -> list[InboxEntry]:
        """Take what waits in a response inbox: every message for every channel below it, in the order sent.

        One call costs one backend round trip however many clients the inbox
        serves. Each message comes once, with the channels it is for: a group
        send is one entry naming every member in the inbox (so more messages
        than ``limit`` may come). A server holding ten thousand sockets reads a
        broadcast as one entry, not ten thousand pairs that the garbage
        collector would have to look at (docs/reference/performance.rst).

        Args:
            inbox: a response-channel prefix, e.g. ``"!django.websocket.send.srv1"``.
            timeout: seconds to wait when the inbox is empty; ``0`` does not wait.
            limit: the most entries to take at once.
        """
        if not is_response_channel(validate_channel_name(inbox)):
            raise InvalidChannelName(f"receive_inbox() needs a response inbox starting with '!', not {inbox!r}")
        entries = [
            (channels, decode_message(payload)) for channels, payload in self._pop([inbox], _seconds(timeout), limit)
        ]
        metrics.received(channel for channels, _ in entries for channel in channels)
        return entries

    def group_add(self, group: str, channel: str, since: object = None) -> Recovery | None:
        """Add ``channel`` to ``group``, or refresh its membership for ``group_expiry`` seconds.

        With ``since``, the position of the last message the member saw in a
        group with history, it also gets every later message, in order, first
        (see :mod:`~channels_core.backends.history`), and the
        :class:`~channels_core.backends.history.Recovery` is returned.

        Raises:
            ValueError: ``since`` is not a position of this group (see
                :meth:`Position.parse <channels_core.backends.history.Position.parse>`),
                or the group has no history.
        """
        validate_group_name(group)
        validate_channel_name(channel)
        if since is None:
            self._group_add(group, channel)
            return None
        size = self._history_size(group)
        return self._group_add_since(group, channel, Position.parse(since, group), size)

    def group_position(self, group: str) -> Message:
        """The position of ``group``'s latest message, ``{"group", "epoch", "offset"}``, to render into a page.

        Starts the group's history (offset 0) if it has none, and keeps it
        ``GROUP_HISTORY_EXPIRY`` seconds more. ``ValueError`` if the group has no history.
        """
        size = self._history_size(validate_group_name(group))
        return self._group_position(group, size).as_dict()

    def group_discard(self, group: str, channel: str) -> None:
        """Remove ``channel`` from ``group``; removing a non-member does nothing."""
        self._group_discard(validate_group_name(group), validate_channel_name(channel))

    def group_channels(self, group: str) -> list[str]:
        """The live members of ``group``, in no particular order."""
        return self._group_channels(validate_group_name(group))

    def group_send(self, group: str, message: Message) -> GroupSendResult:
        """Send one copy of ``message`` to every live member of ``group``.

        A member whose queue is full is skipped and counted; the sender never
        gets :exc:`ChannelFull` from a group.
        """
        validate_group_name(group)
        history_size = self.history_size_for(group)
        if history_size:
            refuse_position_key(group, message)
            payload = encode_message(f"group {group}", message, reserve=position_reserve(group))
            result = self._group_send_history(group, payload, history_size)
        else:
            result = self._group_send(group, encode_message(f"group {group}", message))
        metrics.group_sent(group, result.delivered, result.skipped)  # logs the members skipped
        return result

    def flush(self) -> None:
        """Delete every message and group of this backend (for tests and resets)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections; the backend may not be used afterwards."""

    # Storage: what each backend provides.

    def _push(self, queue: str, channels: Sequence[str], payload: bytes, capacity: int) -> bool:
        """Append an entry to ``queue`` unless it holds ``capacity`` entries; ``False`` if full."""
        raise NotImplementedError

    def _push_many(self, pushes: Sequence[tuple[str, Sequence[str], bytes, int]]) -> list[bool | ChannelsError]:
        """:meth:`_push` for each ``(queue, channels, payload, capacity)``; backends override it to batch.

        Once the backend is unavailable, the pushes not yet tried get the same
        error (they were not stored).
        """
        results: list[bool | ChannelsError] = []
        for queue, channels, payload, capacity in pushes:
            if results and isinstance(results[-1], BackendUnavailable):
                results.append(results[-1])
                continue
            try:
                results.append(self._push(queue, channels, payload, capacity))
            except BackendUnavailable as error:
                results.append(error)
        return results

    def _pop(self, queues: list[str], timeout: float, limit: int) -> list[Entry]:
        """Take up to ``limit`` unexpired entries from ``queues``, oldest first within a queue.

        Waits up to ``timeout`` seconds for one; returns ``[]`` if none came.
        With several queues, the entries may all come from the first that has
        any, or be the oldest across them; each queue's come in order.
        """
        raise NotImplementedError

    def _group_add(self, group: str, channel: str) -> None:
        raise NotImplementedError

    def _group_discard(self, group: str, channel: str) -> None:
        raise NotImplementedError

    def _group_channels(self, group: str) -> list[str]:
        raise NotImplementedError

    def _group_send(self, group: str, payload: bytes) -> GroupSendResult:
        """Default: one entry per member queue. Backends override it to save round trips."""
        result = GroupSendResult()
        for queue, members in group_by_queue(self._group_channels(group)).items():
            if self._push(queue, members, payload, self.capacity_for(queue)):
                result.delivered += len(members)
            else:
                result.skipped += len(members)
        return result

    # Helpers.

    @property
    def capacity_rules(self) -> list[tuple[str, int]]:
        """``CHANNEL_CAPACITY`` as (glob, capacity) pairs in look-up order (exact names first)."""
        return self._capacities.rules

    @property
    def expiry_rules(self) -> list[tuple[str, float]]:
        """``CHANNEL_EXPIRY`` as (glob, seconds) pairs in look-up order (exact names first)."""
        return self._expiries.rules


def _seconds(timeout: float | None) -> float:
    return max(0.0, timeout or 0.0)
