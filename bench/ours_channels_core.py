"""Our side of the benchmark: ``channels_core.backends.redis.RedisBackend``, or the Redis Cluster backend.

Run by ``bench/run.py`` with the project's virtualenv; see ``bench/README.md``.
Synchronous, as the backend is: one call is one round trip to Redis.

A plan with ``"backend": "cluster"`` (``bench/cluster.py`` sends it) measures
``channels_core.backends.redis_cluster.RedisClusterBackend`` instead, with
``--url`` naming one start-up node of the cluster; the measurements are the same.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import benchlib
from benchlib import E2E_CHANNEL, GROUP, ONE_CHANNEL, Budget, message, stop_message, timed

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import redis  # noqa: E402

from channels_core.backends.base import BaseBackend  # noqa: E402
from channels_core.backends.redis import RedisBackend  # noqa: E402
from channels_core.backends.redis_cluster import RedisClusterBackend  # noqa: E402
from channels_core.names import new_channel_name  # noqa: E402

PREFIX = "bench:ours:"

#: The backends a plan may name in ``"backend"`` (default ``"redis"``), all configured alike.
BACKENDS: dict[str, type[BaseBackend]] = {"redis": RedisBackend, "cluster": RedisClusterBackend}


def make_backend(url: str, kind: str = "redis") -> BaseBackend:
    return BACKENDS[kind](
        {
            "HOSTS": [url],
            "PREFIX": PREFIX,
            "EXPIRY": 120,
            "GROUP_EXPIRY": 600,
            "CAPACITY": 100,
            # Big enough that no benchmark send or group delivery is refused.
            "CHANNEL_CAPACITY": {"bench.*": 1_000_000, "!bench.*": 1_000_000},
        },
        alias="bench",
    )


def direct_client(url: str, kind: str) -> redis.Redis | redis.RedisCluster:
    """A plain redis-py client of the server(s), to read what the backend stored without going through it."""
    return redis.RedisCluster.from_url(url) if kind == "cluster" else redis.Redis.from_url(url)


def queue_key(backend: BaseBackend, queue: str) -> str:
    """The Redis key of ``queue``'s list (on a cluster, hash-tagged: the queue's bookkeeping shares its slot)."""
    if isinstance(backend, RedisClusterBackend):
        return backend.keys.queue(queue)
    return f"{PREFIX}q:{queue}"


def measure_send(backend: BaseBackend, count: int, max_seconds: float) -> dict[str, Any]:
    """Send up to ``count`` messages to one channel (stopping after ``max_seconds``)."""
    backend.send(ONE_CHANNEL + ".warm", message(0))  # connects and loads the script
    budget = Budget(max_seconds)
    done = 0
    start = time.perf_counter()
    for i in range(count):
        if budget.over(i):
            break
        backend.send(ONE_CHANNEL, message(i))
        done += 1
    return timed(done, time.perf_counter() - start, truncated=budget.exhausted)


def measure_receive(backend: BaseBackend, count: int, max_seconds: float) -> dict[str, Any]:
    """Receive the ``count`` messages the send measurement left on the channel."""
    budget = Budget(max_seconds)
    done = 0
    in_order = True
    start = time.perf_counter()
    for i in range(count):
        if budget.over(i):
            break
        found = backend.receive([ONE_CHANNEL], timeout=1.0)
        if found is None:
            break
        in_order = in_order and found[1]["n"] == i
        done += 1
    seconds = time.perf_counter() - start
    return timed(done, seconds, truncated=budget.exhausted, in_order=in_order)


def stored_entries(backend: BaseBackend, client: redis.Redis | redis.RedisCluster, inboxes: list[str]) -> int:
    """Entries waiting in the inboxes' queues, read straight from Redis (independent of the API's count)."""
    return sum(int(client.llen(queue_key(backend, inbox))) for inbox in inboxes)


def measure_group(
    backend: BaseBackend, client: redis.Redis | redis.RedisCluster, spec: dict[str, Any], max_seconds: float
) -> dict[str, Any]:
    """Group sends to ``members`` response channels spread evenly over ``inboxes`` interface servers."""
    backend.flush()
    members, sends = spec["members"], spec["sends"]
    inboxes = [f"!bench.srv{k}" for k in range(spec["inboxes"])]
    channels = [new_channel_name(inboxes[m % len(inboxes)]) for m in range(members)]
    for channel in channels:
        backend.group_add(GROUP, channel)
    delivered = skipped = 0
    warm = backend.group_send(GROUP, message(-1))  # loads the script
    delivered, skipped = warm.delivered, warm.skipped
    budget = Budget(max_seconds)
    done = 0
    start = time.perf_counter()
    for i in range(sends):
        if budget.over(i):
            break
        result = backend.group_send(GROUP, message(i))
        delivered += result.delivered
        skipped += result.skipped
        done += 1
    seconds = time.perf_counter() - start
    expected = (done + 1) * members
    # A group send stores one entry per inbox, naming the members there.
    stored = stored_entries(backend, client, inboxes)
    expected_entries = (done + 1) * len(inboxes)
    out = timed(done, seconds, truncated=budget.exhausted)
    out.update(
        members=members,
        inboxes=len(inboxes),
        inbox_names=inboxes,  # bench/cluster.py reports which cluster node holds each
        deliveries_per_s=round(out["rate"] * members, 1),
        expected=expected,
        delivered=delivered,
        skipped=skipped,
        stored=stored,
        verified=delivered == expected and stored == expected_entries and skipped == 0,
        how="GroupSendResult.delivered summed, and LLEN of the inbox queues in Redis (one entry per inbox)",
    )
    backend.flush()
    return out


def measure_drain(backend: BaseBackend, spec: dict[str, Any], max_seconds: float) -> dict[str, Any]:
    """One interface server receives every delivery of ``sends`` group sends to its ``members`` sockets."""
    backend.flush()
    members, sends = spec["members"], spec["sends"]
    inbox = "!bench.drain"
    channels = [new_channel_name(inbox) for _ in range(members)]
    for channel in channels:
        backend.group_add(GROUP, channel)
    for i in range(sends):
        backend.group_send(GROUP, message(i))
    backend.receive_inbox("!bench.warm", timeout=0)  # loads the script
    expected = members * sends
    per_channel: Counter[str] = Counter()
    budget = Budget(max_seconds)
    start = time.perf_counter()
    calls = 0
    while sum(per_channel.values()) < expected:  # stop as soon as all came: a last empty wait would count
        if budget.over(calls):
            break
        calls += 1
        batch = backend.receive_inbox(inbox, timeout=1.0)
        if not batch:
            break
        per_channel.update(channel for channel, _ in batch)
    seconds = time.perf_counter() - start
    received = sum(per_channel.values())
    out = timed(received, seconds, truncated=budget.exhausted)
    out.update(
        members=members,
        sends=sends,
        expected=expected,
        verified=received == expected and all(per_channel[c] == sends for c in channels),
    )
    backend.flush()
    return out


def run_inproc(url: str, plan: dict[str, Any]) -> dict[str, Any]:
    kind = plan.get("backend", "redis")
    backend = make_backend(url, kind)
    client = direct_client(url, kind)
    limit = plan["max_seconds"]
    try:
        backend.flush()
        sent = measure_send(backend, plan["send"], limit)
        result: dict[str, Any] = {
            "send": sent,
            "receive": measure_receive(backend, sent["count"], limit),
            "groups": [measure_group(backend, client, spec, limit) for spec in plan["groups"]],
        }
        if plan.get("drain"):
            result["drain"] = measure_drain(backend, plan["drain"], plan["drain"]["max_seconds"])
        return result
    finally:
        backend.flush()
        backend.close()
        client.close()


def run_consume(url: str, plan: dict[str, Any]) -> dict[str, Any]:
    """Receive from the end-to-end channel until the stop message; note when the last message came."""
    backend = make_backend(url, plan.get("backend", "redis"))
    backend.receive([E2E_CHANNEL + ".warm"], timeout=0)  # connect and load the script before READY
    benchlib.say_ready()
    deadline = time.monotonic() + plan["max_seconds"]
    received, in_order, sent = 0, True, -1
    first_receive = last_receive = 0.0
    while time.monotonic() < deadline:
        found = backend.receive([E2E_CHANNEL], timeout=1.0)
        if found is None:
            continue
        got = found[1]
        if got.get("stop"):
            sent = got["n"]
            break
        last_receive = time.monotonic()
        if received == 0:
            first_receive = last_receive
        in_order = in_order and got["n"] == received
        received += 1
    backend.close()
    return {
        "received": received,
        "sent": sent,
        "first_receive": first_receive,
        "last_receive": last_receive,
        "in_order": in_order,
    }


def run_produce(url: str, plan: dict[str, Any]) -> dict[str, Any]:
    """Send to the end-to-end channel as fast as one process can, for ``count`` messages or ``max_seconds``."""
    backend = make_backend(url, plan.get("backend", "redis"))
    backend.send(E2E_CHANNEL + ".warm", message(0))  # connect and load the script, untimed
    budget = Budget(plan["max_seconds"])
    sent = 0
    first_send = time.monotonic()
    for i in range(plan["count"]):
        if budget.over(i):
            break
        backend.send(E2E_CHANNEL, message(i))
        sent += 1
    last_send = time.monotonic()
    backend.send(E2E_CHANNEL, stop_message(sent))
    backend.close()
    return {"sent": sent, "first_send": first_send, "last_send": last_send}


def main() -> None:
    args = benchlib.side_arguments(__doc__ or "")
    plan = json.loads(args.plan)
    role = {"inproc": run_inproc, "consume": run_consume, "produce": run_produce}[args.role]
    result = role(args.url, plan)
    result["versions"] = {"redis-py": redis.__version__, "django": django.get_version()}
    benchlib.emit(result)


if __name__ == "__main__":
    main()
