"""Benchmark our Redis channel backend side by side with Django Channels 4 (channels_redis 4.3).

Usage, from the repository root::

    .venv/bin/python bench/run.py [--quick] [--out results.json]

What it does (details and how to read the table: ``bench/README.md``):

1. makes or reuses ``bench/.venvs/channels4`` with channels 4.3 and
   channels-redis 4.3 (same redis-py and hiredis versions as ours);
2. starts a private ``redis-server`` on a free port, without persistence;
3. runs each side's measurements in its own process and virtualenv, the two
   sides taking turns, ``repeats`` times, with FLUSHALL between runs;
4. runs ``redis-benchmark`` (50 clients, then 1 client) against the same server;
5. stops the server, prints the table, and writes JSON with ``--out``.

Only the standard library is used here; the sides import their own libraries.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import benchlib
import redisproc
import venvs
from benchlib import log, median
from venvs import ours_python

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PEER_VENV = BENCH / ".venvs" / "channels4"
PEER_REQUIREMENTS = ["channels==4.3.*", "channels-redis==4.3.*"]


@dataclass
class Profile:
    """How long and how often to measure."""

    repeats: int  # each side's measurements run this many times, in turns; the table shows medians
    budget: float  # seconds one timed loop may run before it stops early (the count is then what it did)
    send: int  # most messages the send measurement sends (the receive measurement drains them)
    group_sends: dict[int, int]  # members -> most group sends per layout
    drain_members: int
    drain_sends: int
    e2e_count: int
    e2e_budget: float
    redis_benchmark_requests: int
    groups: list[dict[str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.groups = [
            {"members": members, "inboxes": inboxes, "sends": sends}
            for members, sends in self.group_sends.items()
            for inboxes in (1, 10)
        ]


FULL = Profile(
    repeats=3,
    budget=2.0,
    send=100_000,
    group_sends={100: 10_000, 1000: 2_000},
    drain_members=100,
    drain_sends=100,
    e2e_count=100_000,
    e2e_budget=2.5,
    redis_benchmark_requests=100_000,
)
QUICK = Profile(
    repeats=1,
    budget=0.5,
    send=20_000,
    group_sends={100: 2_000, 1000: 500},
    drain_members=100,
    drain_sends=20,
    e2e_count=20_000,
    e2e_budget=0.7,
    redis_benchmark_requests=20_000,
)


@dataclass
class Side:
    name: str
    python: Path
    script: Path

    def command(self, url: str, role: str, plan: dict[str, Any]) -> list[str]:
        return [str(self.python), str(self.script), "--url", url, "--role", role, "--plan", json.dumps(plan)]


# Setup.

#: Where the processes run. On this project's 2-vCPU virtual machines a round trip
#: between processes on *different* vCPUs costs 100-400 us and swings 2-4x from run to
#: run (waking an idle vCPU is slow), while on one vCPU it costs about 10 us and repeats
#: within a few per cent. See README.md, "CPU layout".
LAYOUTS = {
    "one": "every process on one CPU: repeatable; the figures are CPU cost per operation, client + Redis",
    "split": "redis-server on one CPU, the clients on the others: every round trip crosses CPUs, like a network hop",
    "free": "no pinning: the OS decides (on a small VM the figures then jump between the two cases above)",
}


def apply_layout(layout: str) -> tuple[set[int] | None, set[int] | None]:
    """(CPUs for redis-server, CPUs for this process and so for every client it starts)."""
    available = sorted(os.sched_getaffinity(0))
    if layout == "free":
        return None, None
    first = available[0]
    if layout == "split" and len(available) > 1:
        return {first}, set(available[1:])
    if layout == "split":
        log("only one CPU available: using --cpus one")
    return {first}, {first}


def ensure_peer_venv(ours: Path) -> Path:
    """Create or update ``bench/.venvs/channels4``; return its python.

    redis-py and hiredis are pinned to the versions our side uses, so the two
    sides differ in the channel layer only.
    """
    return venvs.ensure_venv(PEER_VENV, [*PEER_REQUIREMENTS, *venvs.pinned_like(ours, ["redis", "hiredis"])])


# Running the sides.


def run_side(side: Side, url: str, role: str, plan: dict[str, Any], timeout: float) -> dict[str, Any]:
    done = subprocess.run(side.command(url, role, plan), capture_output=True, text=True, timeout=timeout, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"{side.name} {role} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return benchlib.parse_result(done.stdout)


def wait_ready(proc: subprocess.Popen[str], timeout: float) -> None:
    """Wait until a consumer prints READY (it then listens), or fail at the deadline."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                break
            line = proc.stdout.readline()
            if line.strip() == benchlib.READY:
                return
            if not line:  # the consumer exited
                break
    raise RuntimeError("the consumer did not get ready")


def run_end_to_end(side: Side, url: str, profile: Profile) -> dict[str, Any]:
    """One consumer process listens; then one producer process sends; rate from first send to last receive."""
    plan = {"count": profile.e2e_count, "max_seconds": profile.e2e_budget}
    consume_plan = {"max_seconds": profile.e2e_budget + 60}
    with tempfile.TemporaryFile("w+") as consumer_errors:
        consumer = subprocess.Popen(
            side.command(url, "consume", consume_plan),
            stdout=subprocess.PIPE,
            stderr=consumer_errors,
            text=True,
            cwd=REPO,
        )
        try:
            try:
                wait_ready(consumer, timeout=30)
                produced = run_side(side, url, "produce", plan, timeout=profile.e2e_budget + 60)
                out, _ = consumer.communicate(timeout=profile.e2e_budget + 60)
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                consumer.kill()
                consumer.wait()
                consumer_errors.seek(0)
                raise RuntimeError(
                    f"{side.name} end-to-end failed: {error}\n{consumer_errors.read()[-4000:]}"
                ) from error
            if consumer.returncode != 0:
                consumer_errors.seek(0)
                raise RuntimeError(f"{side.name} consumer failed:\n{consumer_errors.read()[-4000:]}")
        finally:
            if consumer.poll() is None:
                consumer.kill()
                consumer.wait()
    consumed = benchlib.parse_result(out)
    seconds = consumed["last_receive"] - produced["first_send"]
    result = benchlib.timed(consumed["received"], seconds)
    result.update(
        producer_rate=round(benchlib.rate(produced["sent"], produced["last_send"] - produced["first_send"]), 1),
        sent=produced["sent"],
        # The consumer's final lag behind the producer: how far it fell behind.
        lag_seconds=round(consumed["last_receive"] - produced["last_send"], 4),
        verified=consumed["received"] == produced["sent"] == consumed["sent"] and consumed["in_order"],
        versions=consumed["versions"],
    )
    return result


def inproc_plan(profile: Profile) -> dict[str, Any]:
    return {
        "send": profile.send,
        "groups": profile.groups,
        # Bounded by its count (members x sends), not by the budget: a partial drain would verify nothing.
        "drain": {"members": profile.drain_members, "sends": profile.drain_sends, "max_seconds": 60},
        "max_seconds": profile.budget,
    }


# Summarising and printing.


@dataclass
class Row:
    key: str
    label: str
    unit: str
    ours: list[float]  # one figure per round
    theirs: list[float]

    @property
    def spread(self) -> float:
        """Half the largest min-to-max range of the two sides, relative to its median: the noise of the row."""
        return max((max(v) - min(v)) / 2 / median(v) if median(v) else 0.0 for v in (self.ours, self.theirs))


def summarize(runs: dict[str, dict[str, list[dict[str, Any]]]]) -> tuple[list[Row], list[str]]:
    """The figures of every round per measurement, and the list of failed checks."""
    rows: list[Row] = []
    problems: list[str] = []

    def add(key: str, label: str, unit: str, pick: Any, kind: str = "inproc") -> None:
        rows.append(
            Row(key, label, unit, [pick(r) for r in runs["ours"][kind]], [pick(r) for r in runs["theirs"][kind]])
        )

    add("send", "a. send, one channel", "msg/s", lambda r: r["send"]["rate"])
    add("receive", "b. receive, one channel (pre-filled)", "msg/s", lambda r: r["receive"]["rate"])
    add("end_to_end", "c. end to end, producer process -> consumer process", "msg/s", lambda r: r["rate"], "e2e")
    groups = runs["ours"]["inproc"][0]["groups"]
    for index, spec in enumerate(groups):
        where = "1 inbox/server" if spec["inboxes"] == 1 else f"{spec['inboxes']} inboxes/servers"
        label = f"d. group send, {spec['members']} members, {where}"
        add(f"group_{spec['members']}_{spec['inboxes']}", label, "sends/s", lambda r, i=index: r["groups"][i]["rate"])
        add(
            f"group_{spec['members']}_{spec['inboxes']}_deliveries",
            "",
            "deliveries/s",
            lambda r, i=index: r["groups"][i]["deliveries_per_s"],
        )
    drain = runs["ours"]["inproc"][0]["drain"]
    add(
        "group_drain",
        f"x. one server receives a group's fan-out, {drain['members']} members",
        "deliveries/s",
        lambda r: r["drain"]["rate"],
    )

    for side, kinds in runs.items():
        for number, run in enumerate(kinds["inproc"], 1):
            if not run["receive"]["in_order"]:
                problems.append(f"{side} run {number}: receive out of order")
            if not run["receive"]["truncated"] and run["receive"]["count"] != run["send"]["count"]:
                problems.append(f"{side} run {number}: received {run['receive']['count']} of {run['send']['count']}")
            for group in run["groups"]:
                if not group["verified"]:
                    problems.append(
                        f"{side} run {number}: group of {group['members']} in {group['inboxes']} inbox(es): "
                        f"delivered {group['delivered']}, expected {group['expected']}"
                    )
            if not run["drain"]["verified"]:
                problems.append(f"{side} run {number}: drain got {run['drain']['count']} of {run['drain']['expected']}")
        for number, run in enumerate(kinds["e2e"], 1):
            if not run["verified"]:
                problems.append(
                    f"{side} end-to-end run {number}: received {run['count']} of {run['sent']} or out of order"
                )
    return rows, problems


def print_table(
    rows: list[Row], bench: dict[str, dict[str, dict[str, float | None]]], header: str, problems: list[str]
) -> None:
    width = max(len(row.label) for row in rows) + 2
    print()
    print(header)
    print()
    print(f"{'':{width}}{'':14}{'ours':>12}{'theirs':>12}{'ours/theirs':>13}{'spread':>9}")
    for row in rows:
        ours, theirs = median(row.ours), median(row.theirs)
        ratio = f"{ours / theirs:.2f}x" if theirs else "-"
        spread = f"±{row.spread:.0%}" if len(row.ours) > 1 else ""
        print(f"{row.label:{width}}{row.unit:14}{ours:>12,.0f}{theirs:>12,.0f}{ratio:>13}{spread:>9}")
    print()
    title = "redis-benchmark, unpipelined (requests/s)"
    print(f"{title:{width}}{'':14}{'50 clients':>12}{'1 client':>12}{'p50 1 client':>13}")
    for test, many in bench["clients_50"].items():
        one = bench["clients_1"].get(test, {})
        p50 = f"{one['p50_ms']:.3f} ms" if one.get("p50_ms") is not None else "-"
        print(f"  {test:{width - 2}}{'':14}{many['rps']:>12,.0f}{one.get('rps', 0):>12,.0f}{p50:>13}")
    print()
    if problems:
        print("CHECKS FAILED:")
        for problem in problems:
            print(f"  - {problem}")
    else:
        print("Checks: every group delivery counted, every message received once and in order.")


def machine_busy(seconds: float = 0.5) -> float | None:
    """Fraction of all CPUs busy over ``seconds`` before the run (others' load skews every figure)."""

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields[:8]), idle

    try:
        total_a, idle_a = sample()
        time.sleep(seconds)  # the sampling window itself
        total_b, idle_b = sample()
    except (OSError, ValueError, IndexError):
        return None
    return 1 - (idle_b - idle_a) / max(1, total_b - total_a)


def redis_version() -> str:
    out = subprocess.check_output([redisproc.REDIS_SERVER, "--version"], text=True)
    return next((part.split("=", 1)[1] for part in out.split() if part.startswith("v=")), out.strip())


# Main.


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one short round (under 40 s) instead of three")
    parser.add_argument("--out", type=Path, help="also write the figures and every raw run to this JSON file")
    parser.add_argument(
        "--cpus",
        choices=sorted(LAYOUTS),
        default="one",
        help="CPU layout: " + "; ".join(f"{name}: {text}" for name, text in LAYOUTS.items()) + " (default: one)",
    )
    args = parser.parse_args()
    profile = QUICK if args.quick else FULL
    started = time.monotonic()
    # Turn SIGTERM into SystemExit so the finally blocks stop redis-server and the side processes.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    busy = machine_busy()
    if busy is not None and busy > 0.15:
        log(f"warning: {busy:.0%} of the CPUs were busy before the run; figures will be lower and noisier")
    python = ours_python()
    sides = {
        "ours": Side("ours", python, BENCH / "ours_channels_core.py"),
        "theirs": Side("theirs", ensure_peer_venv(python), BENCH / "peer_channels_redis.py"),
    }
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {name: {"inproc": [], "e2e": []} for name in sides}
    side_timeout = 60 + 10 * profile.budget  # about 7 timed loops plus set-up
    server_cpus, client_cpus = apply_layout(args.cpus)
    with redisproc.private_redis(cpus=server_cpus) as port:
        if client_cpus is not None:
            os.sched_setaffinity(0, client_cpus)  # inherited by every side process and redis-benchmark
        url = f"redis://127.0.0.1:{port}/0"
        log(f"redis-server {redis_version()} on port {port}, CPUs: server {server_cpus}, clients {client_cpus}")
        for repeat in range(profile.repeats):
            # Take turns, swapping who goes first each round, so neither side always meets a warmer server.
            order = list(sides.values()) if repeat % 2 == 0 else list(sides.values())[::-1]
            for side in order:
                log(f"round {repeat + 1}/{profile.repeats}: {side.name}: send, receive, groups ...")
                redisproc.flushall(port)
                runs[side.name]["inproc"].append(run_side(side, url, "inproc", inproc_plan(profile), side_timeout))
            for side in order:
                log(f"round {repeat + 1}/{profile.repeats}: {side.name}: end to end across processes ...")
                redisproc.flushall(port)
                runs[side.name]["e2e"].append(run_end_to_end(side, url, profile))
        redisproc.flushall(port)
        log("redis-benchmark, 50 clients then 1 client ...")
        bench = {
            "clients_50": redisproc.redis_benchmark(port, profile.redis_benchmark_requests),
            "clients_1": redisproc.redis_benchmark(port, profile.redis_benchmark_requests, clients=1),
        }

    rows, problems = summarize(runs)
    versions = {name: {**runs[name]["inproc"][0]["versions"]} for name in sides}
    theirs = versions["theirs"]
    header = "\n".join(
        [
            f"Median of {profile.repeats} run(s). CPU layout '{args.cpus}': {LAYOUTS[args.cpus]}.",
            f"{os.cpu_count()} CPUs, redis-server {redis_version()}, Python {platform.python_version()}, "
            f"redis-py {versions['ours'].get('redis-py')} with hiredis on both sides.",
            f"CPUs busy with other work just before the run: {'?' if busy is None else f'{busy:.0%}'}.",
            f"ours: channels_core RedisBackend (sync); theirs: channels {theirs.get('channels')} + "
            f"channels_redis {theirs.get('channels_redis')} RedisChannelLayer (asyncio).",
        ]
    )
    print_table(rows, bench, header, problems)
    elapsed = time.monotonic() - started
    log(f"done in {elapsed:.0f} s")
    if args.out:
        report = {
            "profile": "quick" if args.quick else "full",
            "cpu_layout": args.cpus,
            "settings": asdict(profile),
            "environment": {
                "cpus": os.cpu_count(),
                "busy_before_run": busy,
                "python": platform.python_version(),
                "redis_server": redis_version(),
                "versions": versions,
            },
            "figures": {
                row.key: {
                    "label": row.label,
                    "unit": row.unit,
                    "ours": median(row.ours),
                    "theirs": median(row.theirs),
                    "ours_rounds": row.ours,
                    "theirs_rounds": row.theirs,
                }
                for row in rows
            },
            "redis_benchmark": bench,
            "problems": problems,
            "runs": runs,
            "seconds": round(elapsed, 1),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        log(f"wrote {args.out}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
