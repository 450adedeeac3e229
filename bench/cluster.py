"""Our channel layer on one Redis next to the same layer on a Redis Cluster, in one run.

Usage, from the repository root::

    .venv/bin/python bench/cluster.py [--quick] [--out results.json] [--cpus one|split|free]

What it does (details and how to read the table: ``bench/README.md``, "Redis Cluster"):

1. starts a private ``redis-server`` (``bench/redisproc.py``) and a private
   Redis Cluster of 3 primaries with a replica each
   (``channels_core.testing.redis_cluster.RedisCluster``, in a temporary folder);
2. runs ``bench/ours_channels_core.py`` against each: ``RedisBackend`` on the
   single server, ``RedisClusterBackend`` on the cluster, with the measurements
   and profiles of ``bench/run.py`` (send, receive, end to end across processes,
   group send to 1,000 members over 10 inboxes); who goes first alternates
   between rounds, and every run starts on empty servers;
3. stops every server, prints each figure with its ratio cluster/single, and
   writes JSON with ``--out``.

Unlike ``run.py`` this orchestrator needs the project's virtualenv: it starts
the cluster with the project's testing helpers.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orchestration
import redisproc
import run
from benchlib import log, median
from venvs import ours_python

from channels_core.testing.redis_cluster import RedisCluster

BENCH = Path(__file__).resolve().parent
PRIMARIES, REPLICAS = 3, 1
#: Redis's default ``cluster-node-timeout``: the testing helper's 1.5 s (quick failover tests) could let
#: a node starved of CPU by the benchmark be failed over in the middle of a run.
NODE_TIMEOUT_MS = 15_000
GROUP_MEMBERS, GROUP_INBOXES = 1000, 10
CAVEAT = (
    f"The {PRIMARIES * (1 + REPLICAS)} cluster nodes share the machine's {os.cpu_count()} CPU(s) with the clients: "
    "the cluster figures show the cost per operation, not scale-out."
)


@dataclass
class Target(run.Side):
    """Where our side runs: the backend its plans ask for, a node to start from, and how to empty the servers."""

    backend: str  # a key of ours_channels_core.BACKENDS
    url: str
    flush: Callable[[], None]

    def command(self, url: str, role: str, plan: dict[str, Any]) -> list[str]:
        return super().command(url, role, {**plan, "backend": self.backend})


def inproc_plan(profile: run.Profile) -> dict[str, Any]:
    """run.py's plan for one process's measurements, with the one group layout compared here and no drain."""
    group = {"members": GROUP_MEMBERS, "inboxes": GROUP_INBOXES, "sends": profile.group_sends[GROUP_MEMBERS]}
    return {**run.inproc_plan(profile), "groups": [group], "drain": None}


@contextlib.contextmanager
def private_cluster(cpus: set[int] | None) -> Iterator[RedisCluster]:
    """A Redis Cluster of ``PRIMARIES`` primaries with ``REPLICAS`` replicas each, its nodes pinned to ``cpus``.

    The nodes inherit this process's CPUs when they start (all their threads
    too), so it takes ``cpus`` for the start and gives its own back after.
    """
    own = os.sched_getaffinity(0)
    cluster = RedisCluster(primaries=PRIMARIES, replicas=REPLICAS, node_timeout_ms=NODE_TIMEOUT_MS)
    try:
        if cpus is not None:
            os.sched_setaffinity(0, cpus)
        cluster.start()
        os.sched_setaffinity(0, own)
        yield cluster
    finally:
        cluster.stop()


def flush_cluster(cluster: RedisCluster) -> None:
    """``FLUSHALL`` on every primary (their replicas follow)."""
    for node in cluster.primaries():
        redisproc.flushall(node.port)


def inbox_spread(cluster: RedisCluster, inboxes: list[str]) -> list[int]:
    """How many of the inboxes' queues each primary holds, most first (a queue's slot is its name's: the hash tag)."""
    holders = Counter(cluster.primary_of(f"{{{inbox}}}").port for inbox in inboxes)
    return sorted((holders.get(node.port, 0) for node in cluster.primaries()), reverse=True)


# Summarising and printing.


@dataclass
class Row:
    key: str
    label: str
    unit: str
    single: list[float]  # one figure per round
    cluster: list[float]

    @property
    def ratio(self) -> float | None:
        return median(self.cluster) / median(self.single) if median(self.single) else None

    @property
    def spread(self) -> float:
        """Half the largest min-to-max range of the two, relative to its median: the noise of the row."""
        return max((max(v) - min(v)) / 2 / median(v) if median(v) else 0.0 for v in (self.single, self.cluster))


#: (key, label, unit, kind of run, the figure in one run's result).
MEASUREMENTS: list[tuple[str, str, str, str, Callable[[dict[str, Any]], float]]] = [
    ("send", "a. send, one channel", "msg/s", "inproc", lambda r: r["send"]["rate"]),
    ("receive", "b. receive, one channel (pre-filled)", "msg/s", "inproc", lambda r: r["receive"]["rate"]),
    ("end_to_end", "c. end to end, producer process -> consumer process", "msg/s", "e2e", lambda r: r["rate"]),
    (
        "group",
        f"d. group send, {GROUP_MEMBERS:,} members, {GROUP_INBOXES} inboxes",
        "sends/s",
        "inproc",
        lambda r: r["groups"][0]["rate"],
    ),
    ("group_deliveries", "", "deliveries/s", "inproc", lambda r: r["groups"][0]["deliveries_per_s"]),
]


def summarize(runs: dict[str, dict[str, list[dict[str, Any]]]]) -> list[Row]:
    return [
        Row(key, label, unit, [pick(r) for r in runs["single"][kind]], [pick(r) for r in runs["cluster"][kind]])
        for key, label, unit, kind, pick in MEASUREMENTS
    ]


def failed_checks(runs: dict[str, dict[str, list[dict[str, Any]]]]) -> list[str]:
    """What the side script's own verifications found wrong, per target and round."""
    problems = []
    for target, kinds in runs.items():
        for number, result in enumerate(kinds["inproc"], 1):
            received, sent = result["receive"], result["send"]
            if not received["in_order"] or (not received["truncated"] and received["count"] != sent["count"]):
                problems.append(f"{target} run {number}: received {received['count']} of {sent['count']}, or disorder")
            problems += [
                f"{target} run {number}: group delivered {group['delivered']} of {group['expected']}, "
                f"stored {group['stored']} entries"
                for group in result["groups"]
                if not group["verified"]
            ]
        problems += [
            f"{target} end-to-end run {number}: received {result['count']} of {result['sent']} or out of order"
            for number, result in enumerate(kinds["e2e"], 1)
            if not result["verified"]
        ]
    return problems


#: The table's columns after a row's label and unit: (title, width).
COLUMNS = [("single", 12), ("cluster", 12), ("cluster/single", 16), ("spread", 9)]


def table(rows: list[Row]) -> list[str]:
    """The table's lines: each row's medians, their ratio and, after several rounds, its spread."""
    width = max(len(row.label) for row in rows) + 2

    def line(label: str, unit: str, cells: list[str]) -> str:
        return f"{label:{width}}{unit:14}" + "".join(
            f"{cell:>{size}}" for cell, (_, size) in zip(cells, COLUMNS, strict=True)
        )

    lines = [line("", "", [title for title, _ in COLUMNS])]
    for row in rows:
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "-"
        spread = f"±{row.spread:.0%}" if len(row.single) > 1 else ""
        lines.append(
            line(row.label, row.unit, [f"{median(row.single):,.0f}", f"{median(row.cluster):,.0f}", ratio, spread])
        )
    return lines


def json_report(
    args: argparse.Namespace, busy: float | None, profile: run.Profile, plan: dict[str, Any], **sections: Any
) -> dict[str, Any]:
    """What ``--out`` writes: the settings and machine, then ``sections`` (figures, problems, every raw run)."""
    environment = {
        "redis_server": run.redis_version(),
        "cluster": {"primaries": PRIMARIES, "replicas": REPLICAS, "node_timeout_ms": NODE_TIMEOUT_MS},
    }
    end_to_end = {"count": profile.e2e_count, "max_seconds": profile.e2e_budget}
    settings = {"repeats": profile.repeats, "inproc_plan": plan, "end_to_end": end_to_end}
    return orchestration.report(args, busy, environment, settings=settings, **sections)


def figures(rows: list[Row]) -> dict[str, dict[str, Any]]:
    """Each row's medians, ratio and figure per round, by key."""
    return {
        row.key: {
            "label": row.label,
            "unit": row.unit,
            "single": median(row.single),
            "cluster": median(row.cluster),
            "cluster_over_single": row.ratio,
            "single_rounds": row.single,
            "cluster_rounds": row.cluster,
        }
        for row in rows
    }


# Main.


def measure(targets: list[Target], profile: run.Profile, plan: dict[str, Any]) -> dict[str, dict[str, list[Any]]]:
    """Every round of every measurement on every target, each run on emptied servers; the raw results."""
    runs: dict[str, dict[str, list[Any]]] = {target.name: {"inproc": [], "e2e": []} for target in targets}
    side_timeout = 60 + 10 * profile.budget  # as run.py's: a few timed loops plus set-up
    for repeat in range(profile.repeats):
        order = targets if repeat % 2 == 0 else targets[::-1]  # neither always meets the warmer machine
        for target in order:
            log(f"round {repeat + 1}/{profile.repeats}: {target.name}: send, receive, group send ...")
            target.flush()
            runs[target.name]["inproc"].append(run.run_side(target, target.url, "inproc", plan, side_timeout))
        for target in order:
            log(f"round {repeat + 1}/{profile.repeats}: {target.name}: end to end across processes ...")
            target.flush()
            runs[target.name]["e2e"].append(run.run_end_to_end(target, target.url, profile))
    return runs


def main() -> int:
    # The cluster's nodes are placed as run.py places its redis-server.
    args = orchestration.parser(__doc__ or "", "one short round instead of three", run.LAYOUTS, "one").parse_args()
    profile = run.QUICK if args.quick else run.FULL
    plan = inproc_plan(profile)
    started = time.monotonic()
    # Turn SIGTERM into SystemExit so the finally blocks stop every server.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    busy = run.machine_busy()
    if busy is not None and busy > 0.15:
        log(f"warning: {busy:.0%} of the CPUs were busy before the run; figures will be lower and noisier")
    python, script = ours_python(), BENCH / "ours_channels_core.py"
    server_cpus, client_cpus = run.apply_layout(args.cpus)
    with redisproc.private_redis(cpus=server_cpus) as port, private_cluster(server_cpus) as cluster:
        if client_cpus is not None:
            os.sched_setaffinity(0, client_cpus)  # inherited by every side process
        targets = [
            Target("single", python, script, "redis", f"redis://127.0.0.1:{port}/0", lambda: redisproc.flushall(port)),
            Target("cluster", python, script, "cluster", cluster.urls[0], lambda: flush_cluster(cluster)),
        ]
        primaries = sorted(node.port for node in cluster.primaries())
        log(f"redis-server on port {port}, cluster primaries on {primaries}")
        log(f"CPUs: servers {server_cpus}, clients {client_cpus}")
        runs = measure(targets, profile, plan)
        spread = inbox_spread(cluster, runs["cluster"]["inproc"][0]["groups"][0]["inbox_names"])
        problems = failed_checks(runs)
        if sorted(node.port for node in cluster.primaries()) != primaries:
            problems.append("a replica took over a primary during the run: the cluster figures include a failover")

    rows = summarize(runs)
    header = "\n".join(
        [
            f"Median of {profile.repeats} run(s). CPU layout '{args.cpus}': {run.LAYOUTS[args.cpus]}.",
            f"{os.cpu_count()} CPUs, redis-server {run.redis_version()}, Python {platform.python_version()}.",
            f"CPUs busy with other work just before the run: {'?' if busy is None else f'{busy:.0%}'}.",
            "single: channels_core RedisBackend on one redis-server; cluster: RedisClusterBackend on "
            f"{PRIMARIES} primaries + {PRIMARIES * REPLICAS} replicas.",
            f"The group's {GROUP_INBOXES} inbox queues on the cluster's primaries: {' + '.join(map(str, spread))}.",
            CAVEAT,
        ]
    )
    print("\n".join(["", header, "", *table(rows), ""]))
    orchestration.print_checks(
        problems, "every group delivery counted, every message received once and in order, no failover."
    )
    elapsed = time.monotonic() - started
    log(f"done in {elapsed:.0f} s")
    if args.out:
        report = json_report(
            args,
            busy,
            profile,
            plan,
            inbox_queues_per_primary=spread,
            figures=figures(rows),
            problems=problems,
            runs=runs,
            seconds=round(elapsed, 1),
        )
        orchestration.write_json(args.out, report)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
