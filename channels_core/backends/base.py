"""The interface every channel backend implements.

:class:`BaseBackend` does what all backends share (name rules, encoding,
capacity look-up, logging) and leaves storage to four small methods a backend
overrides: :meth:`~BaseBackend._send`, :meth:`~BaseBackend._receive`,
:meth:`~BaseBackend._group_send` and the group-membership methods.

Backends are synchronous and thread-safe: a worker calls them from several
threads, and the asyncio WebSocket server calls them from a thread pool (one
thread blocks in :meth:`receive` on the server's inbox while others send).
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from .. import defaults
from ..exceptions import ChannelFull
from ..messages import Message, decode_message, encode_message
from ..names import inbox_of, validate_channel_name, validate_group_name

__all__ = ["BaseBackend", "GroupSendResult"]

logger = logging.getLogger("channels_core.backends")


class GroupSendResult:
    """How many members one :meth:`BaseBackend.group_send` reached and skipped."""

    __slots__ = ("delivered", "skipped")

    def __init__(self, delivered: int = 0, skipped: int = 0) -> None:
        self.delivered = delivered
        self.skipped = skipped

    def add(self, other: GroupSendResult) -> None:
        self.delivered += other.delivered
        self.skipped += other.skipped

    def __repr__(self) -> str:
        return f"GroupSendResult(delivered={self.delivered}, skipped={self.skipped})"


class BaseBackend:
    """Carries messages between producers and consumers.

    Args:
        config: one entry of ``CHANNEL_BACKENDS``: ``EXPIRY``, ``GROUP_EXPIRY``,
            ``CAPACITY``, ``CHANNEL_CAPACITY`` and backend-specific keys.
        alias: the entry's name, for log lines.
    """

    #: Whether messages cross process boundaries (``runworker`` refuses backends that do not).
    cross_process = True

    def __init__(self, config: Mapping[str, Any], alias: str = defaults.DEFAULT_ALIAS) -> None:
        self.alias = alias
        self.expiry: float = float(config.get("EXPIRY", defaults.EXPIRY))
        self.group_expiry: float = float(config.get("GROUP_EXPIRY", defaults.GROUP_EXPIRY))
        self.capacity: int = int(config.get("CAPACITY", defaults.CAPACITY))
        rules = dict(config.get("CHANNEL_CAPACITY", {}))
        # Exact names win over globs; globs are tried in the order written.
        self._exact_capacity = {n: int(c) for n, c in rules.items() if not _is_glob(n)}
        self._glob_capacity = [(g, int(c)) for g, c in rules.items() if _is_glob(g)]
        self.capacity_for = lru_cache(maxsize=4096)(self._capacity_for)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} alias={self.alias!r}>"

    # Public surface: validates, encodes, then hands over to the storage methods.

    def send(self, channel: str, message: Message) -> None:
        """Put ``message`` at the end of ``channel``.

        Raises:
            InvalidChannelName, InvalidMessage, MessageTooLarge: bad input.
            ChannelFull: the channel holds ``capacity`` messages already.
            BackendUnavailable: the backend's server cannot be reached.
        """
        validate_channel_name(channel)
        payload = encode_message(channel, message)
        capacity = self.capacity_for(channel)
        if not self._send(channel, inbox_of(channel), payload, capacity):
            raise ChannelFull(f"channel {channel!r} is full (capacity {capacity})")

    def receive(self, channels: Sequence[str], timeout: float | None = 0) -> tuple[str, Message] | None:
        """Take the oldest unexpired message from the first of ``channels`` that has one.

        A response-channel name listens on it as an inbox: it receives the
        messages of every channel one level below it (see :mod:`channels_core.names`),
        and the returned name is the channel each was sent to.

        Args:
            channels: names to listen on; at most one message is taken.
            timeout: seconds to wait for a message; ``0`` does not wait.

        Returns:
            ``(channel, message)``, or ``None`` when nothing came in time.
        """
        if not channels:
            raise ValueError("receive() needs at least one channel to listen on")
        for name in channels:
            validate_channel_name(name)
        found = self._receive(list(channels), max(0.0, timeout or 0.0))
        if found is None:
            return None
        channel, payload = found
        return channel, decode_message(payload)

    def group_add(self, group: str, channel: str) -> None:
        """Add ``channel`` to ``group``, or refresh its membership for ``group_expiry`` seconds."""
        self._group_add(validate_group_name(group), validate_channel_name(channel))

    def group_discard(self, group: str, channel: str) -> None:
        """Remove ``channel`` from ``group``; removing a non-member does nothing."""
        self._group_discard(validate_group_name(group), validate_channel_name(channel))

    def group_channels(self, group: str) -> list[str]:
        """The live members of ``group``, in no particular order."""
        return self._group_channels(validate_group_name(group))

    def group_send(self, group: str, message: Message) -> GroupSendResult:
        """Send one copy of ``message`` to every live member of ``group``.

        A member whose channel is full is skipped and counted; the sender never
        gets :exc:`ChannelFull` from a group.
        """
        validate_group_name(group)
        payload = encode_message(f"group {group}", message)
        result = self._group_send(group, payload)
        if result.skipped:
            logger.warning(
                "group %r: skipped %d full member channel(s), delivered to %d",
                group,
                result.skipped,
                result.delivered,
            )
        return result

    def flush(self) -> None:
        """Delete every message and group of this backend (for tests and resets)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections; the backend may not be used afterwards."""

    # Storage: what each backend provides.

    def _send(self, channel: str, queue: str, payload: bytes, capacity: int) -> bool:
        """Store ``payload`` for ``channel`` in ``queue``; ``False`` if the channel is full."""
        raise NotImplementedError

    def _receive(self, queues: list[str], timeout: float) -> tuple[str, bytes] | None:
        """Pop the oldest unexpired message of the first non-empty queue."""
        raise NotImplementedError

    def _group_add(self, group: str, channel: str) -> None:
        raise NotImplementedError

    def _group_discard(self, group: str, channel: str) -> None:
        raise NotImplementedError

    def _group_channels(self, group: str) -> list[str]:
        raise NotImplementedError

    def _group_send(self, group: str, payload: bytes) -> GroupSendResult:
        """Default: one :meth:`_send` per member. Backends override it to batch."""
        result = GroupSendResult()
        for channel in self._group_channels(group):
            if self._send(channel, inbox_of(channel), payload, self.capacity_for(channel)):
                result.delivered += 1
            else:
                result.skipped += 1
        return result

    # Helpers.

    def _capacity_for(self, channel: str) -> int:
        """The capacity of ``channel``: an exact ``CHANNEL_CAPACITY`` entry, a glob, or ``CAPACITY``."""
        if channel in self._exact_capacity:
            return self._exact_capacity[channel]
        for pattern, capacity in self._glob_capacity:
            if fnmatch.fnmatchcase(channel, pattern):
                return capacity
        return self.capacity

    @property
    def capacity_rules(self) -> list[tuple[str, int]]:
        """``CHANNEL_CAPACITY`` as (glob, capacity) pairs in look-up order (exact names first)."""
        return list(self._exact_capacity.items()) + list(self._glob_capacity)


def _is_glob(name: str) -> bool:
    return any(c in name for c in "*?[")
