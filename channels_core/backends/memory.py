"""The in-memory backend: one process, many threads, no server.

It is the default so that ``runserver`` works with nothing installed. Messages
never leave the process, so ``runworker`` refuses it: use the database or
Redis backend when producers and workers are separate processes.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Mapping
from typing import Any

from .. import defaults
from .base import BaseBackend, GroupSendResult

__all__ = ["InMemoryBackend"]

# (deadline, channel, payload)
_Entry = tuple[float, str, bytes]


class InMemoryBackend(BaseBackend):
    """Thread-safe queues and groups in this process's memory.

    Receivers wait on a condition variable, so a blocking :meth:`receive`
    sleeps until a message arrives instead of polling.
    """

    cross_process = False

    def __init__(self, config: Mapping[str, Any], alias: str = defaults.DEFAULT_ALIAS) -> None:
        super().__init__(config, alias)
        self._arrived = threading.Condition()
        self._queues: dict[str, deque[_Entry]] = {}
        self._waiting: Counter[str] = Counter()  # messages per channel, for capacity
        self._groups: dict[str, dict[str, float]] = {}  # group -> {channel: deadline}
        self._next_sweep = 0.0

    def _send(self, channel: str, queue: str, payload: bytes, capacity: int) -> bool:
        with self._arrived:
            now = time.monotonic()
            self._sweep(now)
            self._trim(queue, now)
            if self._waiting[channel] >= capacity:
                return False
            self._queues.setdefault(queue, deque()).append((now + self.expiry, channel, payload))
            self._waiting[channel] += 1
            self._arrived.notify_all()
            return True

    def _receive(self, queues: list[str], timeout: float) -> tuple[str, bytes] | None:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                now = time.monotonic()
                for queue in queues:
                    found = self._pop_live(queue, now)
                    if found is not None:
                        return found
                if now >= deadline:
                    return None
                self._arrived.wait(deadline - now)

    def _pop_live(self, queue: str, now: float) -> tuple[str, bytes] | None:
        entries = self._queues.get(queue)
        while entries:
            expires, channel, payload = entries.popleft()
            self._forget(channel)
            if expires > now:
                return channel, payload
        self._queues.pop(queue, None)
        return None

    def _forget(self, channel: str) -> None:
        self._waiting[channel] -= 1
        if self._waiting[channel] <= 0:
            del self._waiting[channel]

    def _trim(self, queue: str, now: float) -> None:
        """Drop the expired messages at the head of ``queue`` (called with the lock held)."""
        entries = self._queues.get(queue)
        while entries and entries[0][0] <= now:
            self._forget(entries.popleft()[1])
        if not entries:
            self._queues.pop(queue, None)

    def _sweep(self, now: float) -> None:
        """Reclaim every expired message and member, at most once a second (called with the lock held)."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + 1.0
        for queue in list(self._queues):
            self._trim(queue, now)
        for group, members in list(self._groups.items()):
            self._live_members(group, members, now)

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

    def _group_send(self, group: str, payload: bytes) -> GroupSendResult:
        # The lock is re-entrant, so the per-member sends share one critical section.
        with self._arrived:
            return super()._group_send(group, payload)

    def flush(self) -> None:
        with self._arrived:
            self._queues.clear()
            self._waiting.clear()
            self._groups.clear()
