"""What one socket may cost its server: replies waiting for it, and frames it may send.

A client that stops reading must not fill the server's memory, and a client
that floods must not take more than its share of the workers. Both limits
are per socket, so one client's behaviour never closes or slows another.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable

from ..frames import Reply

__all__ = ["ReceiveRate", "SendBuffer"]


class SendBuffer:
    """The replies waiting for one client, bounded in number and in bytes.

    Args:
        max_messages: replies that may wait (``CHANNELS_WS_SEND_BUFFER``).
        max_bytes: bytes of frames that may wait (``CHANNELS_WS_SEND_BUFFER_BYTES``);
            one reply larger than this still fits into an empty buffer.
    """

    def __init__(self, max_messages: int, max_bytes: int) -> None:
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.bytes = 0
        self._replies: collections.deque[Reply] = collections.deque()
        self._waiting = asyncio.Event()

    def __len__(self) -> int:
        return len(self._replies)

    def put(self, reply: Reply) -> bool:
        """Add a reply; ``False`` (and nothing added) when it would pass either bound."""
        too_many = len(self._replies) >= self.max_messages
        too_big = self._replies and self.bytes + reply.size > self.max_bytes
        if too_many or too_big:
            return False
        self._replies.append(reply)
        self.bytes += reply.size
        self._waiting.set()
        return True

    async def get(self) -> Reply:
        """The oldest reply, waiting for one."""
        while not self._replies:
            self._waiting.clear()
            await self._waiting.wait()
        reply = self._replies.popleft()
        self.bytes -= reply.size
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
