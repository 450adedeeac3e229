"""The in-memory backend: one process, many threads, no server.

It is the default so that ``runserver`` works with nothing installed. Messages
never leave the process, so ``runworker`` refuses it: use the database or
Redis backend when producers and workers are separate processes.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import defaults, metrics
from ..messages import with_position
from ..names import inbox_of
from .base import BaseBackend
from .history import Position, Recovery, covers, new_epoch
from .storage import Entry, GroupSendResult

__all__ = ["InMemoryBackend"]

# (deadline, channels, payload)
_Stored = tuple[float, Sequence[str], bytes]


@dataclass
class _History:
    """A group's history: its epoch, its latest offset and its last messages (with their positions)."""

    epoch: str
    offset: int
    messages: deque[tuple[int, bytes]]
    expires: float = 0.0


class InMemoryBackend(BaseBackend):
    """Thread-safe queues and groups in this process's memory.

    Receivers wait on a condition variable, so a blocking receive sleeps until
    a message arrives instead of polling.
    """

    cross_process = False

    def __init__(self, config: Mapping[str, Any], alias: str = defaults.DEFAULT_ALIAS) -> None:
        super().__init__(config, alias)
        self._arrived = threading.Condition()
        self._queues: dict[str, deque[_Stored]] = {}
        self._groups: dict[str, dict[str, float]] = {}  # group -> {channel: deadline}
        self._histories: dict[str, _History] = {}
        self._next_sweep = 0.0

    def _push(self, queue: str, channels: Sequence[str], payload: bytes, capacity: int) -> bool:
        with self._arrived:
            now = time.monotonic()
            self._sweep(now)
            entries = self._trimmed(queue, now)
            if len(entries) >= capacity:
                return False
            entries.append((now + self.expiry_for(queue), tuple(channels), payload))
            self._queues[queue] = entries
            self._arrived.notify_all()
            return True

    def _pop(self, queues: list[str], timeout: float, limit: int) -> list[Entry]:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                now = time.monotonic()
                for queue in queues:
                    entries = self._trimmed(queue, now)
                    taken = [entries.popleft() for _ in range(min(limit, len(entries)))]
                    if not entries:
                        self._queues.pop(queue, None)
                    if taken:
                        sent = now + self.expiry_for(queue)  # what a deadline would be for a message sent now
                        metrics.waited(queue, [sent - deadline for deadline, _, _ in taken])
                        return [(channels, payload) for _, channels, payload in taken]
                if now >= deadline:
                    return []
                self._arrived.wait(deadline - now)

    def _trimmed(self, queue: str, now: float) -> deque[_Stored]:
        """``queue`` without its expired entries, counted as dropped (called with the lock held)."""
        entries = self._queues.get(queue, deque())
        expired = 0
        while entries and entries[0][0] <= now:
            expired += len(entries.popleft()[1])  # one message per channel of the entry
        metrics.dropped(metrics.EXPIRED, queue, expired)
        return entries

    def _sweep(self, now: float) -> None:
        """Reclaim every expired entry and member, at most once a second (called with the lock held)."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + 1.0
        for queue in list(self._queues):
            if not self._trimmed(queue, now):
                del self._queues[queue]
        for group, members in list(self._groups.items()):
            self._live_members(group, members, now)
        for group in [group for group, history in self._histories.items() if history.expires <= now]:
            del self._histories[group]

    def _live_members(self, group: str, members: dict[str, float], now: float) -> list[str]:
        for channel in [c for c, expires in members.items() if expires <= now]:
            del members[channel]
        if not members:
            self._groups.pop(group, None)
        return list(members)

    def _group_add(self, group: str, channel: str) -> None:
        with self._arrived:
            self._groups.setdefault(group, {})[channel] = time.monotonic() + self.group_expiry

    def _group_discard(self, group: str, channel: str) -> None:
        with self._arrived:
            members = self._groups.get(group, {})
            members.pop(channel, None)
            if not members:
                self._groups.pop(group, None)

    def _group_channels(self, group: str) -> list[str]:
        with self._arrived:
            return self._live_members(group, self._groups.get(group, {}), time.monotonic())

    def _group_position(self, group: str, size: int) -> Position:
        with self._arrived:
            history = self._kept_history(group, size)
            return Position(group, history.epoch, history.offset)

    def _group_send_history(self, group: str, payload: bytes, size: int) -> GroupSendResult:
        with self._arrived:  # re-entrant: numbering, keeping and delivering are one step for other threads
            history = self._kept_history(group, size)
            history.offset += 1
            position = Position(group, history.epoch, history.offset)
            payload = with_position(payload, position.as_dict())
            history.messages.append((history.offset, payload))
            result = self._group_send(group, payload)
            result.position = position.as_dict()
            return result

    def _group_add_since(self, group: str, channel: str, since: Position, size: int) -> Recovery:
        with self._arrived:
            self._group_add(group, channel)
            history = self._live_history(group, time.monotonic())
            if history is None or not covers(since, history.epoch, history.offset, size):
                return Recovery(recovered=False, replayed=0)
            missed = [payload for offset, payload in history.messages if offset > since.offset]
            for payload in missed:
                self._push(inbox_of(channel), [channel], payload, capacity=sys.maxsize)
            return Recovery(recovered=True, replayed=len(missed))

    def _live_history(self, group: str, now: float) -> _History | None:
        """``group``'s history unless it expired (called with the lock held)."""
        history = self._histories.get(group)
        if history is not None and history.expires <= now:
            del self._histories[group]
            return None
        return history

    def _kept_history(self, group: str, size: int) -> _History:
        """``group``'s history, a new one if it had none, kept ``history_expiry`` seconds more (lock held)."""
        now = time.monotonic()
        history = self._live_history(group, now)
        if history is None:
            history = self._histories[group] = _History(new_epoch(), 0, deque(maxlen=size))
        history.expires = now + self.history_expiry
        return history

    def flush(self) -> None:
        with self._arrived:
            self._queues.clear()
            self._groups.clear()
            self._histories.clear()
