"""A crowd of WebSocket clients in a process of its own: SIGKILL it to lose them all at once, as a network cut does.

Run as ``python crowd.py URL COUNT [--ready] [--stall N]``. It opens COUNT
sockets to ``URL?name=<n>`` (``n`` from 0), with ``--ready`` sends ``ready`` on
each (the ``/crowd/`` consumers echo it once the socket's connect was handled),
prints ``open COUNT`` once every one is open, then one line per event, flushed
at once so a test can read them from the file it gave as stdout:

``got <n> <text>``
    socket ``n`` received a text frame (one over :data:`LONG` characters is
    written ``[<length> characters]``, so big broadcasts do not fill the file).
``closed <n> <code> <time>``
    socket ``n`` was closed (by the server: nothing here closes a socket), at
    ``time`` on the machine's monotonic clock (``time.monotonic()``, the clock
    of the server's drain log too).

With ``--stall N``, socket ``N`` never reads what it is sent: a client that
stopped reading (a frozen tab, a phone in a tunnel). Its receive buffers are
as small as the kernel allows, so the server's side fills up soon; it prints
nothing.

It never exits by itself. Only 127.0.0.1 is meant: the URL comes from the test's stack.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import socket as sockets
import sys
import time

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

#: Handshakes under way at once: a listening socket's backlog is about a hundred.
OPENING_AT_ONCE = 50
#: What every socket sends once open.
READY = "ready"
#: Longer text frames are written as their length only.
LONG = 200


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def small_receive_buffer(url: str) -> sockets.socket:
    """A TCP socket to the URL's host and port whose receive buffer is as small as the kernel allows."""
    host, _, port = url.split("//", 1)[1].split("/", 1)[0].partition(":")
    raw = sockets.socket(sockets.AF_INET, sockets.SOCK_STREAM)
    raw.setsockopt(sockets.SOL_SOCKET, sockets.SO_RCVBUF, 1)  # before connect, so the window is small from the start
    raw.connect((host, int(port)))
    raw.setblocking(False)
    return raw


async def open_socket(url: str, n: int, opening: asyncio.Semaphore, ready: bool, stall: bool) -> ClientConnection:
    async with opening:
        if stall:
            # max_queue 1: the library stops reading from the kernel after one unread frame.
            socket = await connect(f"{url}?name={n}", open_timeout=60, max_size=None, max_queue=1,
                                   sock=small_receive_buffer(url))  # fmt: skip
        else:
            socket = await connect(f"{url}?name={n}", open_timeout=60, max_size=None)
    if ready:
        await socket.send(READY)
    return socket


async def listen(n: int, socket: ClientConnection) -> None:
    try:
        async for frame in socket:
            text = str(frame)
            say(f"got {n} {text if len(text) <= LONG else f'[{len(text)} characters]'}")
    except ConnectionClosed:
        pass
    say(f"closed {n} {socket.close_code} {time.monotonic():.6f}")


async def main(url: str, count: int, ready: bool, stall: int | None) -> None:
    opening = asyncio.Semaphore(OPENING_AT_ONCE)
    sockets_ = await asyncio.gather(*(open_socket(url, n, opening, ready, n == stall) for n in range(count)))
    say(f"open {count}")
    await asyncio.gather(*(listen(n, socket) for n, socket in enumerate(sockets_) if n != stall))
    await asyncio.Event().wait()  # until killed, even with every socket closed


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="A crowd of WebSocket clients (see the module docstring).")
    parser.add_argument("url")
    parser.add_argument("count", type=int)
    parser.add_argument("--ready", action="store_true", help="send 'ready' on each socket once open")
    parser.add_argument("--stall", type=int, default=None, help="the socket that never reads")
    args = parser.parse_args()
    # A socket is a file descriptor: a thousand of them need more than the usual soft limit of 1,024.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main(args.url, args.count, ready=args.ready, stall=args.stall))
