"""What one socket may cost its server: replies waiting for it, and frames it may send.

A client that stops reading must not fill the server's memory, and a client
that floods must not take more than its share of the workers. Both limits
are per socket, so one client's behaviour never closes or slows another.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

from ..frames import Reply

__all__ = ["ReceiveRate", "SendBuffer"]


class SendBuffer:
    """The replies waiting for one client, bounded in number and in bytes.

    Most sockets never have a reply waiting (``channels_core.interfaces.fanout``
    writes a reply at once when nothing is queued before it), so an empty
    buffer holds no queue: thousands of idle sockets cost a few fields each.

    Args:
        max_messages: replies that may wait (``CHANNELS_WS_SEND_BUFFER``).
        max_bytes: bytes of frames that may wait (``CHANNELS_WS_SEND_BUFFER_BYTES``);
            one reply larger than this still fits into an empty buffer.
    """

    __slots__ = ("_replies", "bytes", "max_bytes", "max_messages")

    def __init__(self, max_messages: int, max_bytes: int) -> None:
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.bytes = 0
        #: Made with the first reply that waits, dropped when the last one is taken.
        self._replies: collections.deque[Reply] | None = None

    def __len__(self) -> int:
        return len(self._replies) if self._replies is not None else 0

    def put(self, reply: Reply) -> bool:
        """Add a reply; ``False`` (and nothing added) when it would pass either bound."""
        if self._replies is None:
            self._replies = collections.deque()
        elif len(self._replies) >= self.max_messages or self.bytes + reply.size > self.max_bytes:
            return False
        self._replies.append(reply)
        self.bytes += reply.size
        return True

    def take(self) -> Reply | None:
        """The oldest reply, or ``None`` when none waits."""
        if self._replies is None:
            return None
        reply = self._replies.popleft()
        self.bytes -= reply.size
        if not self._replies:
            self._replies = None
        return reply


class ReceiveRate:
    """A token bucket: a socket may send ``burst`` frames at once, then ``rate`` a second.

    A frame beyond it is not refused: the server reads it later, so the
    client is slowed down, as by a slow network (``CHANNELS_WS_RECEIVE_RATE``).

    Args:
        rate: frames a second in the long run; ``0`` or less: no limit.
        burst: frames that may come at once.
        clock: seconds, monotonic (tests pass their own).
    """

    __slots__ = ("_at", "_clock", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._clock = clock
        self._tokens = float(self.burst)
        self._at = clock()

    def delay(self) -> float:
        """Take a token for one frame; the seconds to wait before reading it (``0.0``: at once)."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate
