"""What a group's history (``GROUP_HISTORY``) costs ``Group.send``: sends/s with and without it, in one run.

Usage, from the repository root::

    .venv/bin/python bench/history.py [--quick] [--out results.json] [--no-cluster]

For each Redis layout (one ``redis-server``; three as shards; a private Redis
Cluster of 3 primaries with a replica each, skipped with ``--no-cluster``),
one backend in this process adds 1,000 members over 10 interface-server
inboxes to two groups, ``bench-plain`` (no history) and ``bench-history``
(``GROUP_HISTORY`` keeps 100), then sends to each in turn, round after round
(who goes first alternates), on the same servers and connections. It prints
the median sends/s of each group and the ratio history/plain, checks that
every send reached its 1,000 members, and writes JSON with ``--out``.

On one Redis a send with history is one script, as without (the script also
numbers and keeps the message); on shards and on the cluster it takes the
group's history lock first and gives it back after: two round trips more
(``channels_core/backends/redis_history.py``). Numbers depend on the machine:
compare the two columns of one run, not runs on different machines.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redisproc
from benchlib import log, median

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from channels_core.backends.base import BaseBackend  # noqa: E402
from channels_core.backends.redis import RedisBackend  # noqa: E402
from channels_core.backends.redis_cluster import RedisClusterBackend  # noqa: E402
from channels_core.names import new_channel_name  # noqa: E402
from channels_core.testing.redis_cluster import RedisCluster  # noqa: E402

MEMBERS, INBOXES, KEPT = 1000, 10, 100
PLAIN, HISTORY = "bench-plain", "bench-history"
#: (sends per group per round, rounds)
FULL, QUICK = (1000, 5), (200, 3)


def config(hosts: list[str]) -> dict[str, Any]:
    return {
        "HOSTS": hosts,
        "PREFIX": "bench:history:",
        "EXPIRY": 120,
        "GROUP_EXPIRY": 600,
        "CHANNEL_CAPACITY": {"!bench.*": 1_000_000},  # no delivery refused
        "GROUP_HISTORY": {HISTORY: KEPT},
    }


def measure(backend: BaseBackend, sends: int, rounds: int) -> dict[str, Any]:
    """Median sends/s of each group over ``rounds``, alternating which goes first."""
    backend.flush()
    inboxes = [f"!bench.srv{k}" for k in range(INBOXES)]
    for group in (PLAIN, HISTORY):
        for member in range(MEMBERS):
            backend.group_add(group, new_channel_name(inboxes[member % INBOXES]))
        backend.group_send(group, {"warm": "up"})  # connects and loads the scripts
    rates: dict[str, list[float]] = {PLAIN: [], HISTORY: []}
    reached = True
    for number in range(rounds):
        order = (PLAIN, HISTORY) if number % 2 == 0 else (HISTORY, PLAIN)
        for group in order:
            start = time.perf_counter()
            for n in range(sends):
                result = backend.group_send(group, {"n": n, "text": "a live blog post of a few words"})
                reached = reached and result.delivered == MEMBERS and result.skipped == 0
            rates[group].append(sends / (time.perf_counter() - start))
        for inbox in inboxes:  # empty the inboxes between rounds, so every round stores into the same sizes
            while backend.receive_inbox(inbox, limit=10_000):
                pass
    backend.flush()
    plain, history = median(rates[PLAIN]), median(rates[HISTORY])
    return {
        "plain_sends_per_s": round(plain, 1),
        "history_sends_per_s": round(history, 1),
        "ratio": round(history / plain, 3),
        "rounds": {group: [round(rate, 1) for rate in values] for group, values in rates.items()},
        "every_send_reached_every_member": reached,
    }


@contextlib.contextmanager
def servers(count: int) -> Iterator[list[str]]:
    with contextlib.ExitStack() as stack:
        yield [f"redis://127.0.0.1:{stack.enter_context(redisproc.private_redis())}/0" for _ in range(count)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer sends and rounds (a smoke run)")
    parser.add_argument("--no-cluster", action="store_true", help="skip the Redis Cluster layout")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    sends, rounds = QUICK if args.quick else FULL
    results: dict[str, Any] = {}
    layouts: list[tuple[str, int]] = [("one Redis", 1), ("3 shards", 3)]
    for name, count in layouts:
        log(f"{name}: {rounds} rounds of {sends} sends per group ...")
        with servers(count) as hosts:
            backend = RedisBackend(config(hosts), alias="bench")
            try:
                results[name] = measure(backend, sends, rounds)
            finally:
                backend.close()
    if not args.no_cluster:
        log(f"Redis Cluster: {rounds} rounds of {sends} sends per group ...")
        with RedisCluster(primaries=3, replicas=1, node_timeout_ms=15_000).start() as cluster:
            backend = RedisClusterBackend(config(cluster.urls[:1]), alias="bench")
            try:
                results["Redis Cluster (3+3)"] = measure(backend, sends, rounds)
            finally:
                backend.close()

    print(f"Group send to {MEMBERS:,} members over {INBOXES} inboxes, sends/s (median of {rounds} rounds)")
    print(f"{'layout':<22}{'no history':>12}{'history':>12}{'ratio':>8}  every send reached every member")
    for name, figures in results.items():
        print(
            f"{name:<22}{figures['plain_sends_per_s']:>12,.0f}{figures['history_sends_per_s']:>12,.0f}"
            f"{figures['ratio']:>8.2f}  {'yes' if figures['every_send_reached_every_member'] else 'NO'}"
        )
    if args.out:
        envelope = {
            "benchmark": "history",
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
            "members": MEMBERS,
            "inboxes": INBOXES,
            "kept": KEPT,
            "sends_per_round": sends,
            "rounds": rounds,
            "results": results,
        }
        args.out.write_text(json.dumps(envelope, indent=2) + "\n")
    return 0 if all(figures["every_send_reached_every_member"] for figures in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
