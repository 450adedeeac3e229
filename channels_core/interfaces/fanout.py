"""Replies on their way to sockets: written at once when nothing waits before them, else queued for a writer.

A broadcast to ten thousand sockets is one reply written ten thousand
times, and the cost that matters is what each write costs the event loop.
So a reply is written **at once**, from the callback that routed it, with
``websockets``' :func:`~websockets.asyncio.server.broadcast` (a synchronous
write, no task, no await) when three things hold:

* nothing of the socket's is queued or being written (``socket.writer`` is
  ``None``), so the reply cannot overtake an earlier one;
* the connection's write buffer is under :data:`~channels_core.defaults.WS_WRITE_LIMIT`,
  so the client is reading: a write never piles up in memory past that limit;
* the reply is a frame, not a close (a close waits for its handshake).

Otherwise the reply joins the socket's bounded
:class:`~channels_core.interfaces.limits.SendBuffer`, and a writer task,
started for the socket when its first reply waits and gone once none waits,
sends what is queued in order, waiting for the client to read (``send``'s
flow control). A client that stopped reading fills its buffer and is closed
with 1013, as before; one that reads gets its replies straight away, and
costs no task while idle.
"""

from __future__ import annotations

import asyncio
import logging

from websockets.asyncio.server import ServerConnection, broadcast
from websockets.exceptions import ConnectionClosed

from .. import defaults
from ..frames import Reply
from .sockets import TRY_AGAIN_LATER, Socket

__all__ = ["close_slow", "deliver", "has_room", "write_queued"]

logger = logging.getLogger("channels_core.websocket")


def has_room(connection: ServerConnection) -> bool:
    """Whether the connection's write buffer is under the write limit (its client reads what it is sent)."""
    return connection.transport.get_write_buffer_size() < defaults.WS_WRITE_LIMIT


def deliver(socket: Socket, reply: Reply) -> bool:
    """Write the reply at once, or queue it behind the socket's earlier replies; ``False`` if its buffer is full.

    On ``False`` nothing was queued: the caller closes the socket (its client does not read).
    """
    if reply.frame is None and reply.close is None:
        return True  # an empty reply: nothing to send
    if socket.writer is None and reply.close is None and has_room(socket.connection):
        # Skips a connection that is closing; its handler emits the disconnect.
        broadcast([socket.connection], reply.payload, text=reply.is_text)
        return True
    if not socket.outgoing.put(reply):
        return False
    if socket.writer is None:
        socket.writer = asyncio.create_task(write_queued(socket))
    return True


async def write_queued(socket: Socket) -> None:
    """Send the socket's queued replies in order, waiting for its client to read each; end when none waits."""
    try:
        while (reply := socket.outgoing.take()) is not None:
            if reply.frame is not None:
                await socket.connection.send(reply.payload, text=reply.is_text)
            if reply.close is not None:
                await socket.connection.close(reply.close)
    except ConnectionClosed:
        pass  # its handler sees the close too, and emits the disconnect
    finally:
        if socket.writer is asyncio.current_task():
            socket.writer = None


def close_slow(socket: Socket) -> asyncio.Task[None]:
    """Close with 1013 a socket whose send buffer is full (its client does not read); the close's task."""
    logger.warning(
        "closing %s: %d replies (%d bytes) wait and the client does not read",
        socket.send_channel,
        len(socket.outgoing),
        socket.outgoing.bytes,
    )
    if socket.writer is not None:
        socket.writer.cancel()
    socket.closed_with = TRY_AGAIN_LATER
    return asyncio.create_task(socket.connection.close(TRY_AGAIN_LATER, "not reading fast enough"))
