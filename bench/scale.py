"""Ten thousand sockets on one WebSocket server: ours (runwsserver + runworker) next to daphne + channels_redis.

Usage, from the repository root::

    .venv/bin/python bench/scale.py [--sizes 1000 5000 10000] [--quick] [--out FILE.json]

For each size, each stack is started fresh on a private ``redis-server``
(``bench/stacks.py``), once with compression off and once with
permessage-deflate asked for, in the live blog's pattern: every socket joins
the group ``bench`` on connect, and ours refreshes it on each keepalive
(``bench/benchapp/consumers.py``; daphne's consumers, ``bench/peer_asgi``,
have no keepalive to refresh on). It measures:

* **connect storm**: ``--clients`` processes (``bench/scaleload.py``) start
  together and open every socket as fast as they can (200 handshakes at once
  each): seconds until the last is open, and how many failed;
* **memory**: resident memory of the server process (runwsserver, or daphne)
  once every socket has joined, minus before the storm, per socket; our
  workers' is reported apart (it does not grow with sockets);
* **keepalives** (ours, compression off): the workers' CPU over one keepalive
  interval once every socket has joined (each socket's keepalive once), per
  second, at the default interval of 30 s (``--keepalive``; a shorter one loads
  the stack more, also during the broadcast), and scaled to 30 s by the ratio
  of the intervals when it differs;
* **broadcast**: ``--broadcasts`` group sends, one a second (``--broadcast-rate``;
  0 sends them back to back, so later ones wait behind earlier ones) with
  ``bench/broadcast.py``: deliveries/s and p50/p99 from send to receipt, over
  every delivery, and the server's CPU time per delivery (from ``/proc``:
  steadier than latencies on a shared machine); and how busy the stack's CPU
  and the clients' CPU were meanwhile, which says who set the latency: the
  clients take the receipt time as ``websockets`` parses each frame, not in a
  task per socket, so that they are not the limit (``bench/scaleload.py``).

Standard library only, as the other orchestrators; ``bench/README.md`` says
how to read the table. The processes run as ``--cpus stack`` lays them out:
servers, workers and Redis on the first CPU, the clients on the others (on two
CPUs: the server, its worker and Redis on one, the client processes on the
other, so the clients' own work does not slow the server down; their receive
times still include their own queueing).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redisproc
import venvs
from benchlib import log, parse_result
from interfaces import redisproc_pid, stack_environment
from processes import BENCH, REPO, Processes, apply_layout, process_cpu
from stacks import Env, Layout, ensure_peer_venv, websocket_stack
from venvs import ours_python

SIDES = ["ours", "daphne"]
DEFAULT_INTERVAL = 30.0  # CHANNELS_WS_KEEPALIVE's default
GOALS = "at 10,000 sockets: < 20 KiB/socket (compression off), >= 3x fewer than daphne, broadcast p99 < 1 s, 0 failed"


CLIENTS_VENV = BENCH / ".venvs" / "clients"


@dataclass
class ScaleEnv(Env):
    """Ours with ``bench.scale_settings`` (compression from the environment), and the crowd's python."""

    clients: Path | None = None  # python of bench/.venvs/clients; None: ours

    def ours_env(self) -> dict[str, str]:
        return {**self.base, "DJANGO_SETTINGS_MODULE": "bench.scale_settings"}


def ensure_clients_venv(ours: Path) -> Path:
    """Create or update ``bench/.venvs/clients``: our ``websockets`` on ``uvloop``; return its python.

    The clients are the measuring instrument. On the standard asyncio loop a
    client process spends about 75 us of CPU on each frame it receives, twice
    what uvloop costs (bench/README.md), so with ten thousand sockets on one
    client CPU the clients' own queue, not the server, set the broadcast's tail.
    Daphne's figures are measured with the same clients.
    """
    return venvs.ensure_venv(CLIENTS_VENV, ["uvloop>=0.21,<1", *venvs.pinned_like(ours, ["websockets"])])


def resident_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pids_of(procs: Processes, name: str) -> list[int]:
    return [proc.pid for kind, proc, _ in procs.procs if kind == name]


def percentile(ordered: list[float], fraction: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


class ClientProcesses:
    """Client processes on the load CPUs that share ``count`` sockets and answer on lines of standard output.

    Each prints ``READY`` once started; the orchestrator tells them all a line
    (``go``, ...) and reads each one's answer, a line with a known prefix.
    """

    def __init__(self, env: Env, python: Path, script: str, args: list[str], count: int, clients: int) -> None:
        shares = [count // clients + (i < count % clients) for i in range(clients)]
        self.procs = [
            env.load(
                [str(python), str(BENCH / script), *args, "--count", str(share)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env.ours_env(),
            )
            for share in shares
        ]
        for proc in self.procs:
            self.line(proc, "READY", 60)

    def tell(self, line: str) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(line + "\n")
            proc.stdin.flush()

    def answers(self, prefix: str, timeout: float) -> list[str]:
        """Each process's next line starting with ``prefix``, without the prefix."""
        return [self.line(proc, prefix, timeout)[len(prefix) :] for proc in self.procs]

    def cpu(self) -> float:
        """CPU seconds the client processes have used so far."""
        return sum(process_cpu(proc.pid) for proc in self.procs)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.stdin is not None and not proc.stdin.closed:
                proc.stdin.close()
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    @staticmethod
    def line(proc: subprocess.Popen[str], prefix: str, timeout: float) -> str:
        """The next line starting with ``prefix`` (a blocking read: the deadline is checked between lines)."""
        deadline = time.monotonic() + timeout
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"a client exited before {prefix.strip()!r}")
            if line.startswith(prefix):
                return line.rstrip("\n")
        raise RuntimeError(f"no {prefix.strip()!r} from a client within {timeout:g} s")


class Crowd(ClientProcesses):
    """``clients`` processes of ``bench/scaleload.py`` (in ``bench/.venvs/clients``) holding ``size`` sockets."""

    def __init__(self, env: ScaleEnv, url: str, size: int, clients: int, compression: bool, concurrency: int) -> None:
        args = ["--url", url, "--concurrency", str(concurrency), *(["--compression"] if compression else [])]
        super().__init__(env, env.clients or env.ours, "scaleload.py", args, size, clients)

    def storm(self, timeout: float) -> dict[str, Any]:
        self.tell("go")
        opened = [json.loads(answer) for answer in self.answers("OPEN ", timeout)]
        seconds = max(o["last_open"] for o in opened) - min(o["go"] for o in opened)
        return {
            "storm_s": round(seconds, 3),
            "opened": sum(o["opened"] for o in opened),
            "failed": sum(o["failed"] for o in opened),
            "deflate": sum(o["deflate"] for o in opened),
            "why_failed": sorted({why for o in opened for why in o["why"]})[:3],
        }

    def results(self, timeout: float) -> dict[str, Any]:
        got = [json.loads(answer) for answer in self.answers("RESULT ", timeout)]
        latencies = sorted(value for result in got for value in result["latencies_ms"])
        spans = [(r["first_ts"], r["last_receive"]) for r in got if "first_ts" in r]
        return {
            "latencies": latencies,
            "seconds": max(last for _, last in spans) - min(first for first, _ in spans) if spans else 0.0,
            "errors": sum(r["error_count"] for r in got),
            "timed_out": any(r["timed_out"] for r in got),
        }


def broadcast(
    env: Env, side: str, members: int, count: int, batch: int, wait: float, rate: float = 0.0
) -> dict[str, Any]:
    """``bench/broadcast.py``: wait until the group has ``members``, then ``count`` sends (``rate`` a second,
    0: back to back) and an end marker."""
    argv = [str(env.side_python(side)), str(BENCH / "broadcast.py"), "--side", "ours" if side == "ours" else "theirs"]
    argv += ["--members", str(members), "--count", str(count), "--batch", str(batch), "--wait", str(wait)]
    argv += ["--rate", str(rate)]
    sender = env.load(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env.side_env(side))
    out, _ = sender.communicate(timeout=wait + 120)
    if sender.returncode != 0:
        raise RuntimeError(f"broadcast.py failed:\n{out[-2000:]}")
    return parse_result(out)


def measure(env: Env, args: argparse.Namespace, side: str, size: int, compression: bool) -> dict[str, Any]:
    """One stack, one size: storm, memory, keepalive CPU (ours, compression off), broadcast."""
    with websocket_stack(env, side, servers=1) as (bases, procs):
        server = pids_of(procs, "runwsserver" if side == "ours" else "daphne")[0]
        workers = pids_of(procs, "runworker")
        rss_before = resident_kib(server)
        crowd = Crowd(env, f"{bases[0]}/bcast/", size, args.clients, compression, args.concurrency)
        try:
            figures: dict[str, Any] = crowd.storm(timeout=args.deadline)
            started = time.monotonic()
            broadcast(env, side, figures["opened"], 0, batch=99, wait=args.deadline)  # until every open socket joined
            figures["joined_s"] = round(figures["storm_s"] + time.monotonic() - started, 3)
            if side == "ours" and not compression:
                cpu_before, window_start = procs.cpu(), time.monotonic()
                time.sleep(args.keepalive)  # the measured window, one interval: each socket's keepalive once
                cpu_after, window = procs.cpu(), time.monotonic() - window_start
                per_s = (cpu_after.get("runworker", 0) - cpu_before.get("runworker", 0)) / window
                figures["keepalive_worker_cpu_per_s"] = round(per_s, 4)
                if args.keepalive != DEFAULT_INTERVAL:
                    figures["keepalive_worker_cpu_per_s_at_30s"] = round(per_s * args.keepalive / DEFAULT_INTERVAL, 4)
                figures["keepalive_us_each"] = round(per_s / (size / args.keepalive) * 1e6, 1)
            rss_after = resident_kib(server)
            figures["rss_kib_before"], figures["rss_kib_after"] = rss_before, rss_after
            figures["kib_per_socket"] = round((rss_after - rss_before) / max(1, figures["opened"]), 2)
            figures["worker_rss_kib"] = sum(resident_kib(pid) for pid in workers)
            server_kind = "runwsserver" if side == "ours" else "daphne"
            stack_before, crowd_before, started = procs.cpu(), crowd.cpu(), time.monotonic()
            sent = broadcast(
                env, side, figures["opened"], args.broadcasts, batch=0, wait=args.deadline, rate=args.broadcast_rate
            )
            got = crowd.results(timeout=args.deadline)
            stack_after, crowd_after, wall = procs.cpu(), crowd.cpu(), time.monotonic() - started
            server_cpu = stack_after.get(server_kind, 0.0) - stack_before.get(server_kind, 0.0)
            # Which side set the latency: a CPU near 100 % busy is the limit (each side has one CPU here).
            figures["stack_cpu_busy_pct"] = round(100 * (sum(stack_after.values()) - sum(stack_before.values())) / wall)
            figures["clients_cpu_busy_pct"] = round(100 * (crowd_after - crowd_before) / wall)
            latencies = got["latencies"]
            figures.update(
                broadcasts=sent["sent"],
                deliveries=len(latencies),
                expected=figures["opened"] * args.broadcasts,
                deliveries_per_s=round(len(latencies) / got["seconds"], 1) if got["seconds"] else 0.0,
                p50_ms=percentile(latencies, 0.50),
                p99_ms=percentile(latencies, 0.99),
                client_errors=got["errors"],
                server_cpu_us_per_delivery=round(server_cpu / len(latencies) * 1e6, 1) if latencies else None,
            )
        finally:
            crowd.stop()
    return figures


# The report.

ROWS = [
    # (label, key, unit, better: "low" or "high"; "": no ratio, the row says who set the latency)
    ("connect storm", "storm_s", "s", "low"),
    ("  failed connections", "failed", "", "low"),
    ("  all joined the group", "joined_s", "s", "low"),
    ("server RSS per socket", "kib_per_socket", "KiB", "low"),
    ("  server RSS, all open", "rss_kib_after", "KiB", "low"),
    ("  workers' RSS", "worker_rss_kib", "KiB", "low"),
    ("keepalives: worker CPU at --keepalive", "keepalive_worker_cpu_per_s", "CPU s/s", "low"),
    ("  scaled to every 30 s", "keepalive_worker_cpu_per_s_at_30s", "CPU s/s", "low"),
    ("  per keepalive", "keepalive_us_each", "us", "low"),
    ("broadcast deliveries", "deliveries_per_s", "/s", "high"),
    ("  p50 send to receipt", "p50_ms", "ms", "low"),
    ("  p99 send to receipt", "p99_ms", "ms", "low"),
    ("  server CPU per delivery", "server_cpu_us_per_delivery", "us", "low"),
    ("  delivered / expected", "delivered", "", "high"),
    ("  stack's CPU busy (server, workers, Redis)", "stack_cpu_busy_pct", "%", ""),
    ("  clients' CPU busy", "clients_cpu_busy_pct", "%", ""),
    ("  negotiated deflate", "deflate", "sockets", "high"),
]


def ratio(ours: Any, theirs: Any, better: str) -> str:
    """How many times better ours is (above 1: better), when both are numbers."""
    if not better or not isinstance(ours, int | float) or not isinstance(theirs, int | float) or not ours or not theirs:
        return ""
    return f"{(theirs / ours if better == 'low' else ours / theirs):.1f}x"


def cell(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 10 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def print_table(results: dict[str, dict[str, Any]], sizes: list[int]) -> None:
    for compression in ("off", "deflate"):
        print(f"\n== compression {compression} ==")
        print(f"{'':40} {'size':>6} {'ours':>10} {'daphne':>10} {'ours better by':>15}")
        for label, key, unit, better in ROWS:
            for size in sizes:
                ours = results.get(f"ours/{size}/{compression}", {}).get(key)
                theirs = results.get(f"daphne/{size}/{compression}", {}).get(key)
                if ours is None and theirs is None:
                    continue
                name = f"{label} ({unit})" if unit else label
                print(f"{name:40} {size:>6} {cell(ours):>10} {cell(theirs):>10} {ratio(ours, theirs, better):>15}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 10000])
    parser.add_argument("--quick", action="store_true", help="sizes 500 and 1000, one broadcast")
    parser.add_argument("--out", type=Path, help="also write every figure as JSON")
    parser.add_argument("--sides", nargs="+", choices=SIDES, default=SIDES)
    parser.add_argument("--compression", nargs="+", choices=["off", "deflate"], default=["off", "deflate"])
    parser.add_argument("--clients", type=int, default=4, help="client processes (default 4)")
    parser.add_argument("--concurrency", type=int, default=200, help="handshakes at once per client process")
    parser.add_argument("--broadcasts", type=int, default=5, help="group sends (default 5)")
    parser.add_argument(
        "--broadcast-rate",
        type=float,
        default=1.0,
        help="group sends a second (default 1: each is measured alone, as 'a broadcast to all'); 0: back to back",
    )
    parser.add_argument(
        "--keepalive",
        type=float,
        default=DEFAULT_INTERVAL,
        help="ours' keepalive interval (default: CHANNELS_WS_KEEPALIVE's, 30 s); shorter loads the stack more",
    )
    parser.add_argument("--runworkers", type=int, default=1)
    parser.add_argument("--worker-threads", type=int, default=4)
    parser.add_argument("--deadline", type=float, default=180.0, help="seconds any one step may take")
    parser.add_argument("--cpus", choices=["stack", "one", "free"], default="stack")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.broadcasts = [500, 1000], 1
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # the servers and clients inherit it
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < max(args.sizes) + 1000:
        log(f"the hard limit of open files is {hard}: raise it (ulimit -Hn) to hold {max(args.sizes):,} sockets")
        return 2
    started = time.monotonic()
    ours = ours_python()
    peer = ensure_peer_venv(ours) if "daphne" in args.sides else ours
    clients = ensure_clients_venv(ours)
    stack_cpus, load_cpus = apply_layout(args.cpus)
    layout = Layout(args.runworkers, args.worker_threads, 8, 1, 16)
    results: dict[str, dict[str, Any]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="bench-scale-") as workdir,
        redisproc.private_redis(cpus=stack_cpus) as port,
    ):
        base = stack_environment(Path(workdir), f"redis://127.0.0.1:{port}/0")
        base["CHANNELS_WS_KEEPALIVE"] = f"{args.keepalive:g}"
        env = ScaleEnv(ours, peer, base, Path(workdir), stack_cpus, load_cpus, layout, redisproc_pid(port), clients)
        subprocess.run(
            [str(ours), "manage.py", "migrate", "--no-input", "-v0"], cwd=REPO, env=env.ours_env(), check=True
        )
        for size in args.sizes:
            for compression in args.compression:
                for side in args.sides:
                    redisproc.command(port, b"*1\r\n$8\r\nFLUSHALL\r\n", timeout=10)
                    env.base["CHANNELS_WS_COMPRESSION"] = "1" if compression == "deflate" else "0"
                    log(f"{side}: {size:,} sockets, compression {compression}")
                    try:
                        figures = measure(env, args, side, size, compression == "deflate")
                        figures["delivered"] = f"{figures['deliveries']:,}/{figures['expected']:,}"
                    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
                        log(f"{side}, {size:,} sockets, compression {compression} failed: {error}")
                        figures = {"error": str(error)[-3000:]}
                    results[f"{side}/{size}/{compression}"] = figures
                    write(
                        args.out, args, results, time.monotonic() - started
                    )  # as it goes: a late failure keeps the rest
    print(f"\nGoals (issue 21): {GOALS}")
    print(f"layout: 1 server per stack; ours + {layout.runworker_label(8)}; {args.clients} client processes;")
    print(f"CPUs: stack {stack_cpus}, clients {load_cpus}; keepalive every {args.keepalive:g} s")
    print(f"broadcasts: {args.broadcasts}, {args.broadcast_rate:g} a second (0: back to back)")
    print_table(results, args.sizes)
    elapsed = time.monotonic() - started
    log(f"done in {elapsed:.0f} s")
    if args.out:
        write(args.out, args, results, elapsed)
        log(f"wrote {args.out}")
    failed = [name for name, figures in results.items() if "error" in figures]
    if failed:
        log(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


def write(out: Path | None, args: argparse.Namespace, results: dict[str, Any], elapsed: float) -> None:
    if out is None:
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"arguments": {k: str(v) for k, v in vars(args).items()}, "results": results, "seconds": elapsed}
    out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
