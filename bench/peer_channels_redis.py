"""The peer's side of the benchmark: Django Channels 4's ``channels_redis.core.RedisChannelLayer``.

Run by ``bench/run.py`` with ``bench/.venvs/channels4/bin/python`` (channels 4.3,
channels-redis 4.3); nothing of this project is imported here. Written the way
a Channels application uses the layer: asyncio, one ``await`` per operation.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any

import benchlib
import channels
import channels_redis
import redis
from benchlib import E2E_CHANNEL, GROUP, ONE_CHANNEL, Budget, message, stop_message, timed
from channels_redis.core import RedisChannelLayer
from redis import asyncio as aioredis

PREFIX = "bench-theirs"
BIG = 10_000_000


def make_layer(url: str) -> RedisChannelLayer:
    return RedisChannelLayer(
        # socket_timeout above the layer's 5 s blocking pop: with redis-py 8's default of
        # 5 s an idle receive dies with TimeoutError (django/channels_redis#422).
        hosts=[{"address": url, "socket_timeout": 30}],
        prefix=PREFIX,
        expiry=120,
        group_expiry=600,
        # Capacity is counted per Redis key; all process-local channels of one layer share
        # one key, so a group's deliveries pile up there: make it big enough for all of them.
        capacity=BIG,
        channel_capacity={"bench.*": BIG, "specific.*": BIG},
    )


async def measure_send(layer: RedisChannelLayer, count: int, max_seconds: float) -> dict[str, Any]:
    """Send up to ``count`` messages to one channel (stopping after ``max_seconds``)."""
    await layer.send(ONE_CHANNEL + ".warm", message(0))  # connects
    budget = Budget(max_seconds)
    done = 0
    start = time.perf_counter()
    for i in range(count):
        if budget.over(i):
            break
        await layer.send(ONE_CHANNEL, message(i))
        done += 1
    return timed(done, time.perf_counter() - start, truncated=budget.exhausted)


async def measure_receive(layer: RedisChannelLayer, count: int, max_seconds: float) -> dict[str, Any]:
    """Receive the ``count`` messages the send measurement left on the channel."""
    budget = Budget(max_seconds)
    done = 0
    in_order = True
    start = time.perf_counter()
    for i in range(count):
        if budget.over(i):
            break
        received = await layer.receive(ONE_CHANNEL)
        in_order = in_order and received["n"] == i
        done += 1
    # Each receive leaves a task that removes the message from the backup queue; it is part of the work.
    await layer.wait_received()
    seconds = time.perf_counter() - start
    return timed(done, seconds, truncated=budget.exhausted, in_order=in_order)


async def count_deliveries(url: str, layer: RedisChannelLayer, servers: list[RedisChannelLayer]) -> tuple[int, int]:
    """(stored messages, deliveries) read straight from Redis.

    A group send stores one message per layer (per process), naming all of
    that layer's member channels in ``__asgi_channel__``; the receiving process
    copies it to each member locally. Deliveries = sum of those name lists.
    """
    client = aioredis.Redis.from_url(url)
    stored = deliveries = 0
    try:
        for server in servers:
            key = f"{PREFIX}specific.{server.client_prefix}!"
            for entry in await client.zrange(key, 0, -1):
                stored += 1
                deliveries += len(layer.deserialize(entry)["__asgi_channel__"])
    finally:
        await client.aclose()
    return stored, deliveries


async def measure_group(url: str, spec: dict[str, Any], max_seconds: float) -> dict[str, Any]:
    """Group sends to ``members`` process-local channels spread over ``inboxes`` layers (= server processes)."""
    sender = make_layer(url)  # the worker that calls group_send
    servers = [make_layer(url) for _ in range(spec["inboxes"])]  # interface servers holding the sockets
    await sender.flush()
    members, sends = spec["members"], spec["sends"]
    for m in range(members):
        await sender.group_add(GROUP, await servers[m % len(servers)].new_channel())
    await sender.group_send(GROUP, message(-1))  # warm
    budget = Budget(max_seconds)
    done = 0
    start = time.perf_counter()
    for i in range(sends):
        if budget.over(i):
            break
        await sender.group_send(GROUP, message(i))
        done += 1
    seconds = time.perf_counter() - start
    expected = (done + 1) * members
    stored, deliveries = await count_deliveries(url, sender, servers)
    out = timed(done, seconds, truncated=budget.exhausted)
    out.update(
        members=members,
        inboxes=len(servers),
        deliveries_per_s=round(out["rate"] * members, 1),
        expected=expected,
        delivered=deliveries,
        stored=stored,
        verified=deliveries == expected,
        how="read back from Redis: sum of the member-name lists of the stored messages",
    )
    await sender.flush()
    return out


async def measure_drain(url: str, spec: dict[str, Any], max_seconds: float) -> dict[str, Any]:
    """One server process receives every delivery of ``sends`` group sends to its ``members`` sockets."""
    sender, server = make_layer(url), make_layer(url)
    await sender.flush()
    members, sends = spec["members"], spec["sends"]
    channels = [await server.new_channel() for _ in range(members)]
    for channel in channels:
        await sender.group_add(GROUP, channel)
    for i in range(sends):
        await sender.group_send(GROUP, message(i))
    expected = members * sends
    per_channel: Counter[str] = Counter()
    budget = Budget(max_seconds)
    received = 0
    start = time.perf_counter()
    # As a server would: every socket's consumer takes its next message, send after send.
    for i in range(sends):
        if budget.over(i):
            break
        for channel in channels:
            got = await server.receive(channel)
            per_channel[channel] += got["n"] == i
            received += 1
    await server.wait_received()
    seconds = time.perf_counter() - start
    out = timed(received, seconds, truncated=budget.exhausted)
    out.update(
        members=members,
        sends=sends,
        expected=expected,
        verified=received == expected and all(per_channel[c] == sends for c in channels),
    )
    await sender.flush()
    return out


async def run_inproc(url: str, plan: dict[str, Any]) -> dict[str, Any]:
    layer = make_layer(url)
    limit = plan["max_seconds"]
    await layer.flush()
    sent = await measure_send(layer, plan["send"], limit)
    result: dict[str, Any] = {
        "send": sent,
        "receive": await measure_receive(layer, sent["count"], limit),
        "groups": [await measure_group(url, spec, limit) for spec in plan["groups"]],
    }
    if plan.get("drain"):
        result["drain"] = await measure_drain(url, plan["drain"], plan["drain"]["max_seconds"])
    await layer.flush()
    return result


async def run_consume(url: str, plan: dict[str, Any]) -> dict[str, Any]:
    """Receive from the end-to-end channel until the stop message; note when the last message came."""
    layer = make_layer(url)
    await layer.connection(0).ping()  # connect before READY
    benchlib.say_ready()
    received, in_order, sent = 0, True, -1
    first_receive = last_receive = 0.0
    # No deadline here: the orchestrator kills this process if the stop message never comes.
    while True:
        got = await layer.receive(E2E_CHANNEL)
        if got.get("stop"):
            sent = got["n"]
            break
        last_receive = time.monotonic()
        if received == 0:
            first_receive = last_receive
        in_order = in_order and got["n"] == received
        received += 1
    await layer.wait_received()
    return {
        "received": received,
        "sent": sent,
        "first_receive": first_receive,
        "last_receive": last_receive,
        "in_order": in_order,
    }


async def run_produce(url: str, plan: dict[str, Any]) -> dict[str, Any]:
    """Send to the end-to-end channel as fast as one process can, for ``count`` messages or ``max_seconds``."""
    layer = make_layer(url)
    await layer.send(E2E_CHANNEL + ".warm", message(0))  # connect, untimed
    budget = Budget(plan["max_seconds"])
    sent = 0
    first_send = time.monotonic()
    for i in range(plan["count"]):
        if budget.over(i):
            break
        await layer.send(E2E_CHANNEL, message(i))
        sent += 1
    last_send = time.monotonic()
    await layer.send(E2E_CHANNEL, stop_message(sent))
    return {"sent": sent, "first_send": first_send, "last_send": last_send}


def main() -> None:
    args = benchlib.side_arguments(__doc__ or "")
    plan = json.loads(args.plan)
    role = {"inproc": run_inproc, "consume": run_consume, "produce": run_produce}[args.role]
    result = asyncio.run(role(args.url, plan))
    result["versions"] = {
        "channels": channels.__version__,
        "channels_redis": channels_redis.__version__,
        "redis-py": redis.__version__,
    }
    benchlib.emit(result)


if __name__ == "__main__":
    main()
