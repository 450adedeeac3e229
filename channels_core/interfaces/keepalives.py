"""When each socket's keepalive is due, and how many may be out at once: pure bookkeeping, no I/O, no clock.

A server holding thousands of sockets must not emit their keepalives in one
burst: ``django.websocket.keepalive`` holds a bounded number of messages, and a
burst past it would drop keepalives, and with them sockets from their groups.
So keepalives flow under a **window**: at most ``window`` of this server's
keepalives are out (emitted, and not yet reported handled by a worker) at any
time. The next ones go out as reports come back, so the channel never fills
because of one server, and keepalives go out as fast as the workers handle
them, never faster.

A socket's next keepalive is due ``interval`` seconds after its last one was
handled, so a connect storm's keepalives spread out on their own after the
first round. A keepalive whose report never comes (its worker died, it
expired) frees its place after ``timeout`` seconds and is due again at once.

The WebSocket server owns one :class:`KeepaliveSchedule` and passes it the
time; tests drive it with made-up times. It does no I/O: the backend only
tells it the keepalive channel's capacity and expiry.
"""

from __future__ import annotations

import heapq
import itertools

from ..backends import BaseBackend
from ..protocol import WEBSOCKET_KEEPALIVE

__all__ = ["KEEPALIVE_WINDOW", "KeepaliveSchedule"]

#: Most keepalives of one server out at once (fewer when the keepalive channel is small).
KEEPALIVE_WINDOW = 50


class KeepaliveSchedule:
    """The keepalives of one server's sockets.

    Args:
        interval: seconds from a socket's handled keepalive to its next one.
        window: most keepalives out at once.
        timeout: seconds after which a keepalive out without a report is given up.
    """

    def __init__(self, interval: float, window: int, timeout: float) -> None:
        if window < 1:
            raise ValueError(f"the keepalive window must be at least 1, not {window}")
        self.interval = interval
        self.window = window
        self.timeout = timeout
        #: Each scheduled socket's due time; a socket out (or removed) has none.
        self._due: dict[str, float] = {}
        #: ``(due time, tie-break, socket)``, possibly stale: checked against ``_due`` when popped.
        self._heap: list[tuple[float, int, str]] = []
        self._tie = itertools.count()
        #: The sockets whose keepalive is out, and when it went.
        self._out: dict[str, float] = {}
        #: The sockets to re-announce after an outage, until each has had a keepalive handled.
        self.restoring: set[str] = set()

    @classmethod
    def for_backend(cls, backend: BaseBackend, interval: float) -> KeepaliveSchedule:
        """A server's schedule on ``backend``: a window of at most a quarter of the keepalive channel's
        capacity (so several servers fit beside each other) and :data:`KEEPALIVE_WINDOW` at most; a
        keepalive given up after the channel's expiry."""
        window = max(1, min(KEEPALIVE_WINDOW, backend.capacity_for(WEBSOCKET_KEEPALIVE) // 4))
        return cls(interval, window, timeout=backend.expiry_for(WEBSOCKET_KEEPALIVE))

    def __len__(self) -> int:
        """How many sockets it schedules."""
        return len(self._due) + len(self._out)

    def add(self, socket: str, now: float, at_once: bool = False) -> None:
        """Schedule a socket whose connect was just handled: its first keepalive is due in ``interval``.

        With ``at_once`` (a connect whose report an outage may have lost), it is
        due now, and counts among the sockets being restored.
        """
        self._schedule(socket, now if at_once else now + self.interval)
        if at_once:
            self.restoring.add(socket)

    def remove(self, socket: str) -> bool:
        """Forget a closed socket; ``True`` if that ends a restoration (it was the last socket awaited)."""
        self._due.pop(socket, None)
        self._out.pop(socket, None)
        if socket not in self.restoring:
            return False
        self.restoring.discard(socket)
        return not self.restoring

    def is_out(self, socket: str) -> bool:
        """Whether the socket's keepalive is out (emitted, its report not yet come)."""
        return socket in self._out

    def take_due(self, now: float) -> list[tuple[str, float]]:
        """The sockets whose keepalive should go out now, each with how late it is; they count as out.

        At most as many as the window has room for, most overdue first.
        """
        self._give_up_on_lost(now)
        taken: list[tuple[str, float]] = []
        while self._heap and len(self._out) < self.window:
            due, _, socket = self._heap[0]
            if self._due.get(socket) != due:  # stale: rescheduled, out, or removed
                heapq.heappop(self._heap)
                continue
            if due > now:
                break
            heapq.heappop(self._heap)
            del self._due[socket]
            self._out[socket] = now
            taken.append((socket, now - due))
        return taken

    def handled(self, socket: str, now: float) -> bool:
        """A worker reported the socket's keepalive handled; ``True`` if this ends its part in a restoration."""
        if self._out.pop(socket, None) is None:
            return False  # closed meanwhile, or given up on and already due again
        self._schedule(socket, now + self.interval)
        if socket in self.restoring:
            self.restoring.discard(socket)
            return True
        return False

    def failed(self, socket: str, now: float, retry_in: float) -> None:
        """The socket's keepalive could not be emitted (the channel was full, the backend down): try again later."""
        if self._out.pop(socket, None) is not None:
            self._schedule(socket, now + retry_in)

    def restore_all(self, now: float) -> int:
        """After an outage: every socket's keepalive is due now, and tracked until handled; how many."""
        sockets = list(self._due) + list(self._out)
        self._out.clear()
        for socket in sockets:
            self._schedule(socket, now)
        self.restoring = set(sockets)
        return len(sockets)

    def next_due(self) -> float | None:
        """When the next keepalive falls due (or a keepalive out is given up), if anything is scheduled."""
        times = []
        while self._heap and self._due.get(self._heap[0][2]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        if self._heap and len(self._out) < self.window:
            times.append(self._heap[0][0])
        if self._out:
            times.append(min(self._out.values()) + self.timeout)
        return min(times) if times else None

    def _schedule(self, socket: str, due: float) -> None:
        self._due[socket] = due
        heapq.heappush(self._heap, (due, next(self._tie), socket))

    def _give_up_on_lost(self, now: float) -> None:
        for socket, sent in list(self._out.items()):
            if now - sent >= self.timeout:
                del self._out[socket]
                self._schedule(socket, now)
