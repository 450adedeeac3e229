"""One task pings every socket of a WebSocket server: dead peers found as ``websockets`` finds them, for less.

``websockets`` finds a peer that vanished (a laptop closed, a phone out of
reach: no close, no FIN) with a keepalive task per connection: every
``ping_interval`` it sends a ping and waits ``ping_timeout`` for the pong,
and closes the connection with 1011 if none comes. A task, its coroutines
and its sleeping timer cost about 1.2 KiB a socket, and a server holds ten
thousand sockets that mostly sit idle. So the server turns that keepalive
off and runs one ``Pinger`` for all its sockets, with the same
semantics: a socket is pinged ``interval`` seconds after it opened and every
``interval`` seconds after that (``WS_PING_INTERVAL``, 20 s); when the next
ping is due and the last one's pong has not come (``interval`` seconds to
answer: ``websockets``' ``ping_timeout``, the same here), the socket is
closed with 1011, as ``websockets`` closes it. Per socket it keeps a place in
its queue and the last ping's pong waiter.

Sockets opened together are pinged together: the pinger wakes at most every
:data:`PING_BATCH` seconds, so a ping may go that much later than due.

A ping is written only while the connection's write buffer is low: a ping
written to a full buffer would wait for the client to read (``ping()``'s
flow control), holding up every other socket's ping. A socket whose client
does not read is not pinged that round (``websockets``' own keepalive would
be waiting for room as well); its send buffer's bound closes it
(``interfaces/fanout.py``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Mapping

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from .sockets import INTERNAL_ERROR, Socket

__all__ = ["PING_BATCH", "Pinger", "can_ping"]

logger = logging.getLogger("channels_core.websocket")

#: Seconds the pinger may wait past a ping's due time, so one wake pings every socket due meanwhile.
PING_BATCH = 0.5
#: Bytes of a server's ping frame: two of header, four of payload (``websockets``' random ping data).
PING_FRAME_BYTES = 6


def can_ping(connection: ServerConnection) -> bool:
    """Whether a ping written now goes without waiting: the connection is open and its write buffer low.

    At or under the buffer's low-water mark the transport is not paused, and a
    ping does not take it over its high-water mark either (the low mark is below
    the high one), so ``ping()`` returns without waiting for the client to read.
    """
    transport = connection.transport
    low, _high = transport.get_write_buffer_limits()
    return connection.state is State.OPEN and transport.get_write_buffer_size() + PING_FRAME_BYTES <= low


class Pinger:
    """Pings a server's sockets and closes those that stopped answering (see the module docstring).

    Args:
        interval: seconds between a socket's pings, and for its pong to come.
        sockets: the server's open sockets by name (a socket gone from it is not pinged again).
    """

    def __init__(self, interval: float, sockets: Mapping[str, Socket]) -> None:
        self.interval = interval
        self._sockets = sockets
        #: (due time, socket name) in due order: every socket waits the same interval, so appending keeps it sorted.
        self._due: collections.deque[tuple[float, str]] = collections.deque()
        self._added = asyncio.Event()
        self._closing: set[asyncio.Task[None]] = set()

    def add(self, socket: Socket) -> None:
        """A socket that opened: its first ping is due one interval from now."""
        if not self._due:
            self._added.set()  # the pinger waits for a first socket; otherwise it wakes for its earlier ones
        self._due.append((asyncio.get_running_loop().time() + self.interval, socket.send_channel))

    async def run(self) -> None:
        """Ping the sockets as they fall due, until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                await self._ping_due(loop.time())
            except Exception:  # a bug: log it, and ping the others next time
                logger.exception("pinging sockets failed")
            self._added.clear()
            wait = self._due[0][0] - loop.time() + PING_BATCH if self._due else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._added.wait(), wait)

    async def _ping_due(self, now: float) -> None:
        due = self._due
        while due and due[0][0] <= now:
            _, name = due.popleft()
            socket = self._sockets.get(name)
            if socket is None:
                continue  # closed since
            if await self._ping(socket):
                due.append((now + self.interval, name))

    async def _ping(self, socket: Socket) -> bool:
        """Ping the socket, or close it if its last ping was not answered; whether it is to be pinged again."""
        connection = socket.connection
        if socket.pong is not None and not socket.pong.done():
            self._close_silent(socket)
            return False
        if connection.state is not State.OPEN:
            return False  # closing: its handler ends soon
        if can_ping(connection):
            try:
                # ping() returns the pong's future (its documented type is only Awaitable): the same object.
                socket.pong = asyncio.ensure_future(await connection.ping())
            except ConnectionClosed:
                return False
        return True  # not pinged if its client does not read: it is tried again next interval

    def _close_silent(self, socket: Socket) -> None:
        """Close with 1011 a socket that did not answer its ping within the interval, as ``websockets`` does."""
        logger.info("closing %s: no pong within %g s of its ping", socket.send_channel, self.interval)
        socket.closed_with = INTERNAL_ERROR  # its disconnect says 1011 though the peer never answers the close
        closing = asyncio.create_task(socket.connection.close(INTERNAL_ERROR, "keepalive ping timeout"))
        self._closing.add(closing)  # keep a reference until it is done
        closing.add_done_callback(self._closing.discard)
