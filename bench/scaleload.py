"""Many idle WebSocket clients for ``bench/scale.py``: one process of a crowd (project virtualenv, asyncio).

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
from websockets.asyncio.client import ClientConnection, connect
from wsload import origin_of


class Listener:
    """One socket's batch-0 deliveries."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.latencies: list[float] = []
        self.first_ts = float("inf")
        self.last_receive = 0.0
        self.ended = asyncio.Event()
        self.error: str | None = None

    async def run(self) -> None:
        try:
            async for frame in self.ws:
                now = time.monotonic()
                data = json.loads(frame)
                if data.get("b") != 0:
                    continue
                if data.get("end"):
                    self.ended.set()
                else:
                    self.latencies.append(now - float(data["ts"]))
                    self.first_ts = min(self.first_ts, float(data["ts"]))
                    self.last_receive = now
        except Exception as error:
            self.error = f"{type(error).__name__}: {error}"
        finally:
            self.ended.set()  # a closed socket gets nothing more: do not wait for it


async def open_all(
    url: str, count: int, concurrency: int, compression: bool
) -> tuple[list[ClientConnection], list[str]]:
    gate = asyncio.Semaphore(concurrency)
    failures: list[str] = []

    async def one() -> ClientConnection | None:
        async with gate:
            try:
                return await connect(
                    url,
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
    listeners = [Listener(ws) for ws in sockets]
    tasks = [asyncio.create_task(listener.run()) for listener in listeners]
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
    for task in tasks:
        task.cancel()


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
    asyncio.run(main(arguments))
