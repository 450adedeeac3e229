"""A crowd of WebSocket clients in a process of its own: SIGKILL it to lose them all at once, as a network cut does.

Run as ``python crowd.py URL COUNT [--ready]``. It opens COUNT sockets to
``URL?name=<n>`` (``n`` from 0), with ``--ready`` sends ``ready`` on each (the
``/crowd/`` consumers echo it once the socket's connect was handled), prints
``open COUNT`` once every one is open, then one line per event, flushed at once
so a test can read them from the file it gave as stdout:

``got <n> <text>``
    socket ``n`` received a text frame.
``closed <n> <code>``
    socket ``n`` was closed (by the server: nothing here closes a socket).

It never exits by itself. Only 127.0.0.1 is meant: the URL comes from the test's stack.
"""

from __future__ import annotations

import asyncio
import resource
import sys

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

#: Handshakes under way at once: a listening socket's backlog is about a hundred.
OPENING_AT_ONCE = 50
#: What every socket sends once open.
READY = "ready"


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def open_socket(url: str, n: int, opening: asyncio.Semaphore, ready: bool) -> ClientConnection:
    async with opening:
        socket = await connect(f"{url}?name={n}", open_timeout=60, max_size=None)
    if ready:
        await socket.send(READY)
    return socket


async def listen(n: int, socket: ClientConnection) -> None:
    try:
        async for frame in socket:
            say(f"got {n} {frame!s}")
    except ConnectionClosed:
        pass
    say(f"closed {n} {socket.close_code}")


async def main(url: str, count: int, ready: bool) -> None:
    opening = asyncio.Semaphore(OPENING_AT_ONCE)
    sockets = await asyncio.gather(*(open_socket(url, n, opening, ready) for n in range(count)))
    say(f"open {count}")
    await asyncio.gather(*(listen(n, socket) for n, socket in enumerate(sockets)))
    await asyncio.Event().wait()  # until killed, even with every socket closed


if __name__ == "__main__":
    # A socket is a file descriptor: a thousand of them need more than the usual soft limit of 1,024.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), ready=sys.argv[3:] == ["--ready"]))
