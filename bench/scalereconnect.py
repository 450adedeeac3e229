"""Readers that reconnect like the browser client, for ``bench/scale_restart.py``: one process of a crowd.

Run as ``python bench/scalereconnect.py --url URL --count N``. Each of the N
readers holds one socket and, whenever it closes or cannot open, waits as
``channels_core/static/channels_core/socket.js`` does before trying again:
capped exponential backoff with full jitter, a random wait between 0 and
``min(15 s, 0.5 s * 2**attempt)``, the attempt counter reset once a socket
has stayed open 5 s, and no retry after a final close code (1008, 4000-4999).

It prints ``READY``, opens its sockets on the line ``go`` (at most
``--concurrency`` handshakes at once, retrying as above) and prints
``OPEN {"open": ...}`` once all are open; then it answers on its standard input:

``status``
    ``STATUS {"open": ..., "got": ...}``: sockets open now, readers that got a broadcast of batch 5;
``report <t0>``
    ``RESULT {...}``: every (re)open and close at or after ``t0`` (the machine's monotonic clock),
    the failed attempts, and the open count.

It stops when its standard input closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import sys
import time

import benchlib
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from wsload import origin_of

#: socket.js's defaults (ChannelsSocket options), in seconds.
BACKOFF_BASE = 0.5
BACKOFF_CAP = 15.0
STABLE_AFTER = 5.0
#: Close codes after which socket.js does not reconnect.
FINAL = {1008, *range(4000, 5000)}
#: The batch of bench/broadcast.py that the orchestrator sends once every reader is back.
CHECK_BATCH = 5


class Crowd:
    """What every reader of this process shares: counts and the times of opens and closes."""

    def __init__(self) -> None:
        self.open = 0
        self.got = 0
        self.failed = 0
        self.opens: list[float] = []
        self.closes: list[float] = []
        self.final = 0


class Reader:
    """One socket, reopened for ever as socket.js reopens it."""

    def __init__(self, url: str, crowd: Crowd) -> None:
        self.url = url
        self.crowd = crowd
        self.attempt = 0
        self.got_check = False

    def next_delay(self) -> float:
        """Full jitter: a random wait between 0 and min(cap, base * 2**attempt) (socket.js ``_nextDelay``)."""
        ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2**self.attempt)
        self.attempt += 1
        return random.random() * ceiling

    def reset(self) -> None:
        self.attempt = 0

    async def run(self, first: asyncio.Semaphore) -> None:
        loop = asyncio.get_running_loop()
        gate: asyncio.Semaphore | None = first
        while True:
            try:
                if gate is not None:
                    async with gate:
                        ws = await connect(self.url, origin=origin_of(self.url), open_timeout=30, ping_interval=None)
                else:
                    ws = await connect(self.url, origin=origin_of(self.url), open_timeout=30, ping_interval=None)
            except Exception:  # refused, reset, an HTTP error: retry later, as socket.js does
                self.crowd.failed += 1
                await asyncio.sleep(self.next_delay())
                continue
            gate = None  # only the first storm is paced; reconnections go as their backoff says
            self.crowd.open += 1
            self.crowd.opens.append(time.monotonic())
            stable = loop.call_later(STABLE_AFTER, self.reset)
            try:
                async for frame in ws:
                    if not self.got_check and json.loads(frame).get("b") == CHECK_BATCH:
                        self.got_check = True
                        self.crowd.got += 1
            except ConnectionClosed:
                pass
            stable.cancel()
            self.crowd.open -= 1
            self.crowd.closes.append(time.monotonic())
            if ws.close_code in FINAL:
                self.crowd.final += 1
                return
            await asyncio.sleep(self.next_delay())


async def main(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    crowd = Crowd()
    benchlib.say_ready()
    await loop.run_in_executor(None, sys.stdin.readline)  # "go"
    first = asyncio.Semaphore(args.concurrency)
    tasks = [asyncio.create_task(Reader(args.url, crowd).run(first)) for _ in range(args.count)]
    while crowd.open < args.count:
        await asyncio.sleep(0.05)  # poll interval; the orchestrator's deadline bounds it
    print("OPEN " + json.dumps({"open": crowd.open, "failed": crowd.failed}), flush=True)
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        command, _, argument = line.strip().partition(" ")
        if command == "status":
            print("STATUS " + json.dumps({"open": crowd.open, "got": crowd.got}), flush=True)
        elif command == "report":
            since = float(argument)
            result = {
                "opens": [round(t, 4) for t in crowd.opens if t >= since],
                "closes": [round(t, 4) for t in crowd.closes if t >= since],
                "failed": crowd.failed,
                "open": crowd.open,
                "final": crowd.final,
                "got": crowd.got,
            }
            benchlib.emit(result)
    for task in tasks:
        task.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=200, help="handshakes at once in the first storm")
    arguments = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # every socket is a file descriptor
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main(arguments))
