"""Benchmark the whole stack (interface servers + workers) side by side with Django Channels 4 + daphne.

Usage, from the repository root::

    .venv/bin/python bench/interfaces.py [--quick] [--out results.json] [--cpus stack|one|free]

Three measurements, each stack started fresh for each (details and how to read
the table: ``bench/README.md``, "Interface servers"):

1. WebSocket echo, 50 clients: ours (runwsserver + runworker) vs daphne;
2. group broadcast to 200 sockets on one server and on two: ours vs daphne;
3. HTTP ``GET /bench/hello/`` with 16 connections (wrk): ours (gunicorn + the
   WSGI adapter + runworker) vs daphne vs plain Django under gunicorn.

What it does:

1. makes or reuses ``bench/.venvs/daphne4`` with channels 4.3, daphne 4 and
   channels-redis 4.3 (same Django, redis-py, hiredis, dj-database-url versions as ours);
2. migrates a temporary SQLite database and starts a private ``redis-server``;
3. for each round and measurement, starts each stack in turn, waits until it
   answers (HTTP GET or WebSocket echo, polled with a deadline), measures,
   stops it (SIGTERM, then SIGKILL), with FLUSHALL in between;
4. prints the table, and writes JSON with ``--out``.

Only the standard library is used here (and in the modules it imports:
``processes.py``, ``venvs.py``, ``stacks.py``, ``measurements.py``,
``summary.py``); the load generators (``wrk``, ``bench/wsload.py``) and the
broadcaster (``bench/broadcast.py``) run as processes of their own.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import redisproc
from benchlib import log
from measurements import FULL, QUICK, WRK, Profile, measure_broadcast, measure_echo, measure_http
from processes import LAYOUTS, REPO, apply_layout
from run import machine_busy, redis_version
from stacks import Env, Layout, ensure_peer_venv
from summary import Row, Runs, previous_label, print_table, summarize
from venvs import ours_python, versions_of

MEASUREMENTS = ["echo", "bcast", "http"]
#: One measurement of one stack: it starts the stack, measures, stops it, and returns the figures.
Measure = Callable[[str], dict[str, Any]]


def parse_arguments() -> argparse.Namespace:
    """The command line (``--help`` shows this module's docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one short round (under a minute)")
    parser.add_argument("--out", type=Path, help="also write the figures and every raw run to this JSON file")
    parser.add_argument(
        "--cpus",
        choices=sorted(LAYOUTS),
        default="stack",
        help="CPU layout: " + "; ".join(f"{name}: {text}" for name, text in LAYOUTS.items()) + " (default: stack)",
    )
    parser.add_argument("--only", nargs="+", choices=MEASUREMENTS, help="run only these measurements")
    parser.add_argument("--rounds", type=int, help="override the profile's number of rounds")
    parser.add_argument(
        "--metrics",
        choices=["on", "off"],
        default="on",
        help="ours: count Prometheus metrics (CHANNELS_METRICS; default on); bench/metrics.py compares both",
    )
    parser.add_argument("--runworkers", type=int, default=1, help="ours: runworker processes (default 1)")
    parser.add_argument("--worker-threads", type=int, default=4, help="ours: threads per runworker (default 4)")
    parser.add_argument(
        "--worker-batch", type=int, default=8, help="ours: runworker --batch for the WebSocket stacks (default 8)"
    )
    parser.add_argument(
        "--gunicorn-workers", type=int, default=1, help="ours and plain: gunicorn processes; daphne: processes (1)"
    )
    parser.add_argument("--gunicorn-threads", type=int, default=16, help="ours and plain: gunicorn threads (16)")
    return parser.parse_args()


def redisproc_pid(port: int) -> int | None:
    """The server's process id, from ``INFO server`` (its CPU time is counted with every stack)."""
    reply = redisproc.command(port, b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n", timeout=5)
    found = re.search(rb"process_id:(\d+)", reply)
    return int(found.group(1)) if found else None


def stack_environment(workdir: Path, redis_url: str) -> dict[str, str]:
    """The environment variables every stack starts with: ours, the private Redis, a throwaway database."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GUNICORN_", "CHANNELS_"))},
        "PYTHONPATH": str(REPO),
        "REDIS_URL": redis_url,
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-secret-key-not-for-production",
        "SECURE_COOKIES": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CHANNELS_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }


def plan_measurements(env: Env, profile: Profile, only: set[str]) -> list[tuple[str, list[str], Measure]]:
    """(measurement, the stacks that take part, how to measure one) for each measurement asked for."""
    plan: list[tuple[str, list[str], Measure]] = []
    if "echo" in only:
        plan.append(("echo", ["ours", "daphne"], functools.partial(measure_echo, env, profile=profile)))
    if "bcast" in only:
        for servers in profile.bcast_servers:
            measure = functools.partial(measure_broadcast, env, servers=servers, profile=profile)
            plan.append((f"bcast_{servers}", ["ours", "daphne"], measure))
    if "http" in only:
        plan.append(("http", ["ours", "daphne", "plain"], functools.partial(measure_http, env, profile=profile)))
    return plan


def measure_rounds(port: int, rounds: int, plan: list[tuple[str, list[str], Measure]]) -> Runs:
    """Every measurement of the plan for every stack, ``rounds`` times; Redis emptied before each."""
    runs: Runs = {}
    for number in range(rounds):
        for measurement, sides, measure in plan:
            # Take turns: who goes first rotates between rounds.
            turn = number % len(sides)
            for side in sides[turn:] + sides[:turn]:
                log(f"round {number + 1}/{rounds}: {measurement}: {side} ...")
                redisproc.flushall(port)
                result = measure(side)
                runs.setdefault(measurement, {s: [] for s in sides})[side].append(result)
    return runs


@dataclass
class Conditions:
    """What a run was measured with and on: printed above the table and written into the JSON."""

    args: argparse.Namespace
    profile: Profile
    layout: Layout
    busy: float | None  # fraction of the CPUs busy with other work just before the run
    versions: dict[str, dict[str, str]]  # stack -> package -> version
    load_cpus: set[int] | None

    def header(self) -> list[str]:
        """Rounds, CPUs, versions, processes, load generators."""
        profile, busy, versions = self.profile, self.busy, self.versions
        theirs = versions["daphne"]
        return [
            f"Median of {profile.rounds} round(s); each stack started fresh for each measurement.",
            f"{os.cpu_count()} CPUs; CPU layout '{self.args.cpus}': {LAYOUTS[self.args.cpus]}.",
            f"CPUs busy with other work just before the run: {'?' if busy is None else f'{busy:.0%}'}.",
            f"Python {platform.python_version()}, redis-server {redis_version()}, Django {versions['ours']['Django']}, "
            f"websockets {versions['ours']['websockets']}, gunicorn {versions['ours']['gunicorn']}; "
            f"peer: channels {theirs['channels']}, daphne {theirs['daphne']}, "
            f"channels_redis {theirs['channels-redis']}, Twisted {theirs['Twisted']}.",
            "Processes:",
            *(f"  {line}" for line in self.layout.describe(profile.bcast_servers)),
            f"Load: wsload.py (asyncio websockets client, one process), broadcast.py, wrk "
            f"(-c{profile.http_connections}); on CPUs {self.load_cpus if self.load_cpus else 'any'}.",
        ]

    def report(
        self, rows: list[Row], verdict: list[str], problems: list[str], runs: Runs, elapsed: float
    ) -> dict[str, Any]:
        """The JSON written with ``--out``: settings, environment, every figure with its rounds, every raw run."""
        return {
            "profile": "quick" if self.args.quick else "full",
            "cpu_layout": self.args.cpus,
            "settings": asdict(self.profile),
            "layout": asdict(self.layout),
            "environment": {
                "cpus": os.cpu_count(),
                "busy_before_run": self.busy,
                "python": platform.python_version(),
                "redis_server": redis_version(),
                "versions": self.versions,
            },
            "figures": {
                row.key: {
                    "label": row.label or previous_label(rows, row),
                    "unit": row.unit,
                    **{side: row.value(side) for side in row.figures},
                    "rounds": row.figures,
                }
                for row in rows
            },
            "verdict": verdict,
            "problems": problems,
            "runs": runs,
            "seconds": round(elapsed, 1),
        }


def main() -> int:
    args = parse_arguments()
    profile = replace(QUICK if args.quick else FULL)
    if args.rounds:
        profile.rounds = args.rounds
    only = set(args.only or MEASUREMENTS)
    layout = Layout(
        args.runworkers, args.worker_threads, args.worker_batch, args.gunicorn_workers, args.gunicorn_threads
    )
    if "http" in only and WRK is None:
        log("wrk is not installed (Debian: apt-get install wrk); it is the HTTP load generator")
        return 2
    started = time.monotonic()
    # Turn SIGTERM into SystemExit so the finally blocks stop every stack and redis-server.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    busy = machine_busy()
    if busy is not None and busy > 0.15:
        log(f"warning: {busy:.0%} of the CPUs were busy before the run; figures will be lower and noisier")
    ours = ours_python()
    peer = ensure_peer_venv(ours)
    stack_cpus, load_cpus = apply_layout(args.cpus)
    workdir = Path(tempfile.mkdtemp(prefix="bench-interfaces-"))
    try:
        with redisproc.private_redis(cpus=stack_cpus) as port:
            base = stack_environment(workdir, f"redis://127.0.0.1:{port}/0")
            base["CHANNELS_METRICS"] = "1" if args.metrics == "on" else "0"
            env = Env(ours, peer, base, workdir, stack_cpus, load_cpus, layout, redisproc_pid(port))
            subprocess.run(
                [str(ours), "manage.py", "migrate", "--no-input", "-v0"], cwd=REPO, env=env.ours_env(), check=True
            )
            log(f"redis-server {redis_version()} on port {port}; CPUs: stacks {stack_cpus}, load {load_cpus}")
            runs = measure_rounds(port, profile.rounds, plan_measurements(env, profile, only))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    rows, problems = summarize(runs, profile)
    versions = {
        "ours": versions_of(ours, ["Django", "websockets", "gunicorn", "redis", "hiredis"]),
        "daphne": versions_of(peer, ["Django", "channels", "daphne", "channels-redis", "Twisted", "redis", "hiredis"]),
    }
    conditions = Conditions(args, profile, layout, busy, versions, load_cpus)
    verdict = print_table(rows, conditions.header(), problems)
    elapsed = time.monotonic() - started
    log(f"done in {elapsed:.0f} s")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(conditions.report(rows, verdict, problems, runs, elapsed), indent=2) + "\n")
        log(f"wrote {args.out}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
