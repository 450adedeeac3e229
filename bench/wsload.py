"""WebSocket load generator for ``bench/interfaces.py`` (asyncio, ``websockets`` client, project virtualenv).

Roles (the same client code for both stacks; only the URLs differ):

* ``probe``: until a deadline, try to connect to an ``/echo/`` URL, send a frame
  and get it back; exits 0 once that worked (readiness of server *and* workers).
* ``echo``: N clients, each sending a 100-byte text frame and awaiting its echo,
  over and over; after a warm-up, counts round trips for a fixed time and keeps
  each one's latency. Prints ``START`` and ``STOP`` when the measured time
  begins and ends.
* ``bcast``: N clients on one or more ``/bcast/`` URLs (spread round-robin);
  prints ``READY`` once all are open, then for each batch of broadcasts (sent by
  ``bench/broadcast.py``) prints ``DONE <batch>`` when every client has the
  batch's end marker; finally ``RESULT <json>``. A broadcast's text is JSON with
  its send time ``ts`` (``time.monotonic()``, one clock for the machine), so the
  delivery latency is receive time - ``ts``.

Every client sends ``Origin: http://127.0.0.1:<port>``: Channels'
``AllowedHostsOriginValidator`` refuses sockets without one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import resource
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import benchlib
from websockets.asyncio.client import ClientConnection, connect

ECHO_TEXT = "x" * 100
CONNECT_CONCURRENCY = 50


def origin_of(url: str) -> Any:
    parts = urlsplit(url)
    return f"http://{parts.netloc}"


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, math.ceil(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def latency_summary(seconds: list[float]) -> dict[str, float | None]:
    ordered = sorted(seconds)

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 3)

    return {
        "p50_ms": ms(percentile(ordered, 0.50)),
        "p90_ms": ms(percentile(ordered, 0.90)),
        "p99_ms": ms(percentile(ordered, 0.99)),
        "max_ms": ms(ordered[-1] if ordered else None),
        "mean_ms": ms(sum(ordered) / len(ordered) if ordered else None),
    }


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def open_socket(url: str) -> ClientConnection:
    return await connect(url, origin=origin_of(url), compression=None, max_queue=None, open_timeout=30)


async def open_sockets(urls: list[str], count: int) -> list[ClientConnection]:
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(i: int) -> ClientConnection:
        async with gate:
            return await open_socket(urls[i % len(urls)])

    return list(await asyncio.gather(*(one(i) for i in range(count))))


# probe


async def probe(url: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    attempts = 0
    last_error = ""
    while time.monotonic() < deadline:
        attempts += 1
        try:
            async with asyncio.timeout(max(0.1, min(3.0, deadline - time.monotonic()))):
                async with await open_socket(url) as ws:
                    await ws.send("probe")
                    reply = await ws.recv()
            if reply == "probe":
                return {"ok": True, "attempts": attempts}
            last_error = f"unexpected reply {reply!r}"
        except Exception as error:  # refused, closed, timed out: try again until the deadline
            last_error = f"{type(error).__name__}: {error}"
        await asyncio.sleep(0.05)  # poll interval, bounded by the deadline
    return {"ok": False, "attempts": attempts, "error": last_error}


# echo


async def echo(url: str, clients: int, seconds: float, warmup: float) -> dict[str, Any]:
    sockets = await open_sockets([url], clients)
    start = time.perf_counter()
    measure_from = start + warmup
    measure_until = measure_from + seconds
    latencies: list[float] = []
    errors: list[str] = []
    cpu_at_start: list[float] = []

    async def client(ws: ClientConnection) -> None:
        try:
            while True:
                sent = time.perf_counter()
                if sent >= measure_until:
                    return
                await ws.send(ECHO_TEXT)
                reply = await ws.recv()
                done = time.perf_counter()
                if reply != ECHO_TEXT:
                    errors.append(f"wrong echo {str(reply)[:40]!r}")
                    return
                if sent >= measure_from and done <= measure_until:
                    latencies.append(done - sent)
        except Exception as error:
            errors.append(f"{type(error).__name__}: {error}")

    async def mark_cpu() -> None:
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        cpu_at_start.append(cpu_seconds())
        print("START", flush=True)  # the orchestrator samples the stack's CPU time now and at STOP
        await asyncio.sleep(max(0.0, measure_until - time.perf_counter()))
        print("STOP", flush=True)

    await asyncio.gather(mark_cpu(), *(client(ws) for ws in sockets))
    cpu = cpu_seconds() - cpu_at_start[0]
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return {
        "clients": clients,
        "seconds": seconds,
        "count": len(latencies),
        "rate": round(len(latencies) / seconds, 1),
        **latency_summary(latencies),
        "errors": errors[:5],
        "error_count": len(errors),
        "client_cpu": round(cpu / seconds, 3),
    }


# bcast


class BroadcastClient:
    """One socket's view of the broadcasts: latencies and counts per batch."""

    def __init__(self, ws: ClientConnection, batches: int) -> None:
        self.ws = ws
        self.latencies: list[list[float]] = [[] for _ in range(batches)]
        self.first_ts: list[float] = [float("inf")] * batches
        self.last_receive: list[float] = [0.0] * batches
        self.ended = [asyncio.Event() for _ in range(batches)]
        self.sent: list[int] = [0] * batches
        self.error: str | None = None

    async def run(self) -> None:
        try:
            async for frame in self.ws:
                now = time.monotonic()
                data = json.loads(frame)
                batch = int(data["b"])
                if data.get("end"):
                    self.sent[batch] = int(data["sent"])
                    self.ended[batch].set()
                    continue
                self.latencies[batch].append(now - float(data["ts"]))
                self.first_ts[batch] = min(self.first_ts[batch], float(data["ts"]))
                self.last_receive[batch] = now
        except Exception as error:
            self.error = f"{type(error).__name__}: {error}"
        finally:
            for event in self.ended:
                event.set()  # a closed socket gets nothing more: do not wait for it


async def bcast(urls: list[str], clients: int, batches: int, timeout: float) -> dict[str, Any]:
    sockets = await open_sockets(urls, clients)
    receivers = [BroadcastClient(ws, batches) for ws in sockets]
    tasks = [asyncio.create_task(r.run()) for r in receivers]
    benchlib.say_ready()
    results = []
    for batch in range(batches):
        cpu_before = cpu_seconds()
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(r.ended[batch].wait() for r in receivers))
            timed_out = False
        except TimeoutError:
            timed_out = True
        cpu = cpu_seconds() - cpu_before
        latencies = [value for r in receivers for value in r.latencies[batch]]
        first_ts = min(r.first_ts[batch] for r in receivers)
        last_receive = max(r.last_receive[batch] for r in receivers)
        sent = max(r.sent[batch] for r in receivers)
        seconds = last_receive - first_ts if latencies else 0.0
        results.append(
            {
                "batch": batch,
                "clients": clients,
                "servers": len(urls),
                "sent": sent,
                "expected": sent * clients,
                "received": len(latencies),
                "seconds": round(seconds, 6),
                "deliveries_per_s": round(len(latencies) / seconds, 1) if seconds > 0 else 0.0,
                **latency_summary(latencies),
                "timed_out": timed_out,
                "client_cpu": round(cpu / seconds, 3) if seconds > 0 else None,
            }
        )
        print(f"DONE {batch}", flush=True)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    errors = [r.error for r in receivers if r.error]
    return {"batches": results, "errors": errors[:5], "error_count": len(errors)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("role", choices=["probe", "echo", "bcast"])
    parser.add_argument("--url", action="append", required=True, help="WebSocket URL (bcast: repeat for several)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0, help="echo: measured time")
    parser.add_argument("--warmup", type=float, default=1.0, help="echo: seconds before measuring")
    parser.add_argument("--batches", type=int, default=1, help="bcast: batches of broadcasts to expect")
    parser.add_argument("--timeout", type=float, default=30.0, help="probe: deadline; bcast: per batch")
    args = parser.parse_args()
    if args.role == "probe":
        result = asyncio.run(probe(args.url[0], args.timeout))
        benchlib.emit(result)
        return 0 if result["ok"] else 1
    if args.role == "echo":
        benchlib.emit(asyncio.run(echo(args.url[0], args.clients, args.seconds, args.warmup)))
        return 0
    benchlib.emit(asyncio.run(bcast(args.url, args.clients, args.batches, args.timeout)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
