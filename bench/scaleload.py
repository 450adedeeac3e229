"""Many idle WebSocket clients for ``bench/scale.py``: one process of a crowd (``bench/.venvs/clients``, uvloop).

Run as ``python bench/scaleload.py --url URL --count N [--compression]``. It
prints ``READY``, waits for a line ``go`` on its standard input (so several
processes start their storm together), then opens its N sockets, at most
``--concurrency`` handshakes at a time, and prints::

    OPEN {"opened": ..., "failed": ..., "go": <time>, "last_open": <time>, "deflate": ...}

Then it listens. A broadcast frame is JSON from ``bench/broadcast.py`` (batch
``b``, send time ``ts`` on the machine's monotonic clock); frames of batch 0
are counted, with their latency (receive time - ``ts``), until every socket
has batch 0's end marker (or ``--timeout``), and it prints ``RESULT <json>``
(``latencies_ms``: every delivery's; ``first_ts``, ``last_receive``). Other batches are ignored (the
orchestrator uses them to wait until the group is full). It keeps its sockets
open until its standard input closes.

It runs on uvloop, which halves a client's CPU per received frame (see
``ensure_clients_venv`` in ``bench/scale.py``); the orchestrator installs it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from typing import Any

import benchlib
import uvloop
from websockets.asyncio.client import ClientConnection, connect
from websockets.frames import Frame, Opcode
from websockets.protocol import Event
from wsload import origin_of


class Listener:
    """One socket's batch-0 deliveries, recorded as its connection parses them (see :class:`ListeningConnection`)."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.first_ts = float("inf")
        self.last_receive = 0.0
        self.ended = asyncio.Event()
        self.error: str | None = None

    def frame(self, now: float, text: str) -> None:
        data = json.loads(text)
        if data.get("b") != 0:
            return  # the orchestrator's "is everybody in the group yet?" batches
        if data.get("end"):
            self.ended.set()
        else:
            self.latencies.append(now - float(data["ts"]))
            self.first_ts = min(self.first_ts, float(data["ts"]))
            self.last_receive = now

    def lost(self, error: BaseException | None) -> None:
        if not self.ended.is_set():
            self.error = f"closed before the end marker: {error!r}"
        self.ended.set()  # a closed socket gets nothing more: do not wait for it


class ListeningConnection(ClientConnection):
    """A client connection that hands each text frame to its listener the moment ``websockets`` parses it.

    The receipt time is taken as the event loop reads the frame, not when a
    ``recv()`` task gets round to it: with ten thousand sockets in a few client
    processes on one CPU, a task and a message queue per socket made the
    clients, not the server, set the broadcast's latency (the clients' CPU was
    saturated while the server's was mostly idle). Pings are still answered
    by ``websockets``' protocol; the handshake and the parsing are the library's.
    """

    listener: Listener | None = None

    def process_event(self, event: Event) -> None:
        if self.listener is not None and isinstance(event, Frame) and event.opcode is Opcode.TEXT and event.fin:
            self.listener.frame(time.monotonic(), event.data.decode())
            return
        super().process_event(event)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.listener is not None:
            self.listener.lost(exc)


async def open_all(
    url: str, count: int, concurrency: int, compression: bool
) -> tuple[list[ListeningConnection], list[str]]:
    gate = asyncio.Semaphore(concurrency)
    failures: list[str] = []

    async def one() -> ListeningConnection | None:
        async with gate:
            try:
                return await connect(
                    url,
                    create_connection=ListeningConnection,
                    origin=origin_of(url),
                    compression="deflate" if compression else None,
                    open_timeout=60,
                    ping_interval=None,  # the server pings; idle readers only answer
                )
            except Exception as error:
                failures.append(f"{type(error).__name__}: {error}")
                return None

    opened = await asyncio.gather(*(one() for _ in range(count)))
    return [ws for ws in opened if ws is not None], failures


async def main(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    benchlib.say_ready()
    await loop.run_in_executor(None, sys.stdin.readline)  # "go"
    go = time.monotonic()
    sockets, failures = await open_all(args.url, args.count, args.concurrency, args.compression)
    last_open = time.monotonic()
    deflate = sum(bool(ws.protocol.extensions) for ws in sockets)
    opened = {"opened": len(sockets), "failed": len(failures), "why": sorted(set(failures))[:3]}
    opened |= {"go": go, "last_open": last_open, "deflate": deflate}
    print("OPEN " + json.dumps(opened), flush=True)
    listeners = [Listener() for _ in sockets]
    for ws, listener in zip(sockets, listeners, strict=True):
        ws.listener = listener
    try:
        async with asyncio.timeout(args.timeout):
            await asyncio.gather(*(listener.ended.wait() for listener in listeners))
        timed_out = False
    except TimeoutError:
        timed_out = True
    latencies = [round(value * 1000, 2) for listener in listeners for value in listener.latencies]
    errors = [listener.error for listener in listeners if listener.error]
    result: dict[str, Any] = {"latencies_ms": latencies, "timed_out": timed_out, "errors": errors[:5]}
    if latencies:
        result["first_ts"] = min(listener.first_ts for listener in listeners)
        result["last_receive"] = max(listener.last_receive for listener in listeners)
    result["error_count"] = len(errors)
    benchlib.emit(result)
    await loop.run_in_executor(None, sys.stdin.read)  # until the orchestrator closes our stdin


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=200, help="handshakes under way at once")
    parser.add_argument("--compression", action="store_true", help="ask for permessage-deflate")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the broadcast")
    arguments = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # every socket is a file descriptor
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    uvloop.run(main(arguments))
