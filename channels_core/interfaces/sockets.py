"""One socket as the WebSocket server keeps it, and the close codes the server uses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from websockets.asyncio.server import ServerConnection
from websockets.frames import CloseCode

from ..messages import Message
from .limits import ReceiveRate, SendBuffer

__all__ = [
    "GOING_AWAY",
    "INTERNAL_ERROR",
    "MESSAGE_TOO_BIG",
    "TRY_AGAIN_LATER",
    "Socket",
    "apply_reports",
    "close_code",
    "nothing_to_emit",
    "release_waits",
    "settle_once",
    "share_connection_attributes",
]

#: The server is shutting down.
GOING_AWAY = CloseCode.GOING_AWAY
#: The connect message could not be sent.
INTERNAL_ERROR = CloseCode.INTERNAL_ERROR
#: The backend is full or down, or the client does not read its messages.
TRY_AGAIN_LATER = CloseCode.TRY_AGAIN_LATER
#: A frame whose message would be over the 1 MiB message limit.
MESSAGE_TOO_BIG = CloseCode.MESSAGE_TOO_BIG


@dataclass(eq=False, slots=True)
class Socket:
    """A socket the server holds: its connection, its channel, what waits for it, where its messages stand."""

    connection: ServerConnection
    send_channel: str
    path: str
    outgoing: SendBuffer
    receive_rate: ReceiveRate
    order: int = 0
    #: Sends the replies queued in ``outgoing``, while any are (``None``: replies are written at once).
    writer: asyncio.Task[None] | None = None
    #: The code this server closed the socket with, if it did (the peer may never answer).
    closed_with: int | None = None
    #: Resolved when a worker reports message ``order`` handled (``True``), or when the server stops
    #: waiting for the report (``False``); ``None`` while nothing is awaited.
    handled: asyncio.Future[bool] | None = None
    #: Whether the end of an outage stopped the wait for a report (it may have been lost).
    released_by_recovery: bool = False
    #: Resolved when the client answers the server's last ping (``interfaces/pinger.py``).
    pong: asyncio.Future[float] | None = None


async def nothing_to_emit() -> None:
    """Nothing to emit (the socket closed meanwhile)."""


def settle_once(future: asyncio.Future[bool], value: bool) -> None:
    if not future.done():
        future.set_result(value)


def close_code(socket: Socket) -> int:
    """The socket's close code: the peer's, or ours when the peer vanished without answering."""
    code = socket.connection.close_code
    if code in (None, CloseCode.ABNORMAL_CLOSURE) and socket.closed_with is not None:
        return socket.closed_with
    return code or CloseCode.ABNORMAL_CLOSURE


def apply_reports(reports: Message, sockets: Mapping[str, Socket], keepalive_handled: Callable[[str], None]) -> None:
    """A worker's ``{"handled": [...]}`` report: each socket whose message it handled may emit its next one.

    A report of a keepalive goes to ``keepalive_handled`` (the keepalive
    schedule); one for a socket that closed, or for a message the socket no
    longer waits for, is ignored.
    """
    handled = reports.get("handled")
    for report in handled if isinstance(handled, list) else []:
        name = report.get("socket") if isinstance(report, dict) else None
        if not isinstance(name, str):
            continue
        if report.get("keepalive"):
            keepalive_handled(name)
            continue
        socket = sockets.get(name)
        if socket is not None and socket.handled is not None and report.get("order") == socket.order:
            settle_once(socket.handled, True)


def release_waits(sockets: Iterable[Socket]) -> tuple[int, int]:
    """Stop the sockets' waits for reports an outage may have lost; how many, and how many were connects."""
    released = connecting = 0
    for socket in sockets:
        if socket.handled is not None and not socket.handled.done():
            socket.released_by_recovery = True
            socket.handled.set_result(True)  # not a lost message: the caller says it once for all
            released += 1
            connecting += socket.order == 0  # not scheduled for keepalives yet: it will be, at once
    return released, connecting


def share_connection_attributes() -> None:
    """Make sure every connection's attributes fit CPython's key table shared by its class: 1.3 KiB a socket.

    CPython (3.11) keeps the attribute names of a class's instances in one
    table they share, and stops adding new names to it once many instances
    exist. ``websockets`` gives a connection two attributes only once its TCP
    connection is made (``recv_messages``, ``transport``); in a connect storm,
    thousands of connections are created before the first is made, the table
    then refuses the two names, and every connection of the process gets a dict
    of its own instead: 1.6 KiB a socket rather than 0.3 (measured at 2,000
    sockets, in one run in three). One spare instance given those names
    before any socket opens puts them in the table; it is never used.
    """
    spare = object.__new__(ServerConnection)
    for name in ("recv_messages", "transport"):
        setattr(spare, name, None)
