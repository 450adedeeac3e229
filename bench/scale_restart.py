"""A restart of a WebSocket server holding thousands of sockets: how its readers come back (issue 21).

Usage, from the repository root::

    .venv/bin/python bench/scale_restart.py [--sockets 5000] [--windows 5 0] [--out FILE.json]

For each drain window, on a private ``redis-server`` (``bench/stacks.py``):
one ``runworker`` and one ``runwsserver`` on a fixed port; ``--clients``
processes of ``bench/scalereconnect.py`` hold ``--sockets`` sockets on
``/bcast/`` (each joins the group ``bench``), each reconnecting as the browser
client does (capped exponential backoff with full jitter, socket.js's
constants). Then it sends the server SIGTERM (it closes its sockets with 1001
in batches of ``CHANNELS_WS_DRAIN_BATCH`` over ``CHANNELS_WS_DRAIN_WINDOW``
seconds; a window of 0 closes them all at once), starts a new one on the same
port as soon as the old one has exited, and measures:

* **peak reconnects per second**: the most (re)opens in one 100 ms bucket, times 10;
* **time until all are back**: from SIGTERM to the last reader's reopen;
* **left without a socket**: readers not open at the end (after ``--deadline``);
* **all got a broadcast**: one group send once every reader is back reaches each.

Standard library only, as the other orchestrators; the clients run on the
load CPUs, the servers, the worker and Redis on the stack CPUs (``--cpus``).
"""

from __future__ import annotations

import argparse
import json
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import redisproc
from benchlib import log
from interfaces import redisproc_pid, stack_environment
from processes import REPO, apply_layout
from scale import ClientProcesses, ScaleEnv, broadcast
from stacks import Layout, start_runworkers, wait_websocket
from venvs import ours_python

#: The batch of bench/broadcast.py the readers count (scalereconnect.CHECK_BATCH).
CHECK_BATCH = 5
BUCKET = 0.1


class Readers(ClientProcesses):
    """``clients`` processes of ``bench/scalereconnect.py`` holding ``count`` sockets between them."""

    def __init__(self, env: ScaleEnv, url: str, count: int, clients: int) -> None:
        super().__init__(env, env.ours, "scalereconnect.py", ["--url", url], count, clients)

    def open_all(self, timeout: float) -> None:
        self.tell("go")
        self.answers("OPEN ", timeout)

    def status(self) -> dict[str, int]:
        self.tell("status")
        answers = [json.loads(answer) for answer in self.answers("STATUS ", 30)]
        return {key: sum(answer[key] for answer in answers) for key in ("open", "got")}

    def report(self, since: float) -> dict[str, Any]:
        self.tell(f"report {since!r}")
        got = [json.loads(answer) for answer in self.answers("RESULT ", 60)]
        merged: dict[str, Any] = {key: sum(result[key] for result in got) for key in ("failed", "open", "final", "got")}
        merged["opens"] = sorted(t for result in got for t in result["opens"])
        merged["closes"] = sorted(t for result in got for t in result["closes"])
        return merged


def wait_all_back(readers: Readers, count: int, deadline: float) -> dict[str, int]:
    """Poll the readers until every one is open again, or until the deadline; the last status."""
    while True:
        status = readers.status()
        if status["open"] >= count or time.monotonic() > deadline:
            return status
        time.sleep(0.5)  # poll interval, bounded by the deadline


def restart(env: ScaleEnv, args: argparse.Namespace, window: float) -> dict[str, Any]:
    """One restart of a server holding ``args.sockets`` sockets, drained over ``window`` seconds."""
    env.base["CHANNELS_WS_DRAIN_WINDOW"] = f"{window:g}"
    env.base["CHANNELS_WS_DRAIN_BATCH"] = str(args.batch)
    procs = env.processes()
    port = redisproc.free_port()
    base = f"ws://127.0.0.1:{port}"
    server_argv = [str(env.ours), "manage.py", "runwsserver", "--port", str(port)]
    readers: Readers | None = None
    try:
        start_runworkers(env, procs, batch=env.layout.worker_batch)
        procs.start("runwsserver", server_argv, env.ours_env())
        wait_websocket(env, procs, f"{base}/echo/", timeout=60)
        readers = Readers(env, f"{base}/bcast/", args.sockets, args.clients)
        readers.open_all(args.deadline)
        broadcast(env, "ours", args.sockets, 0, batch=99, wait=args.deadline)  # every reader joined
        old = next(proc for name, proc, _ in procs.procs if name == "runwsserver" and proc.poll() is None)
        sigterm = time.monotonic()
        old.send_signal(signal.SIGTERM)
        old.wait(window + 60)
        exited = time.monotonic()
        procs.start("runwsserver", server_argv, env.ours_env())
        wait_websocket(env, procs, f"{base}/echo/", timeout=60)
        listening = time.monotonic()
        status = wait_all_back(readers, args.sockets, time.monotonic() + args.deadline)
        if status["open"] >= args.sockets:  # one group send reaches every reader again
            broadcast(env, "ours", args.sockets, 1, batch=CHECK_BATCH, wait=args.deadline)
            deadline = time.monotonic() + args.deadline
            while readers.status()["got"] < args.sockets and time.monotonic() < deadline:
                time.sleep(0.2)  # poll interval, bounded by the deadline
        result = readers.report(sigterm)
    finally:
        if readers is not None:
            readers.stop()
        procs.stop()
    opens = result["opens"]
    buckets = Counter(int((t - sigterm) / BUCKET) for t in opens)
    busiest = max(buckets.values(), default=0)
    return {
        "window_s": window,
        "sockets": args.sockets,
        "old_server_exited_s": round(exited - sigterm, 2),
        "new_server_listening_s": round(listening - sigterm, 2),
        "closes_seen": len(result["closes"]),
        "reopens": len(opens),
        "failed_attempts": result["failed"],
        "peak_reconnects_per_s": round(busiest / BUCKET),
        "all_back_s": round(opens[-1] - sigterm, 2) if opens else None,
        "left_without_socket": args.sockets - result["open"],
        "got_broadcast_after": result["got"],
        "final_closes": result["final"],
        "reopens_per_second": per_second(opens, sigterm),
    }


def per_second(opens: list[float], start: float) -> list[int]:
    """Reopens in each second after ``start``: the shape of the returning storm."""
    seconds = Counter(int(t - start) for t in opens)
    return [seconds.get(second, 0) for second in range(max(seconds, default=-1) + 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=5000)
    parser.add_argument("--windows", type=float, nargs="+", default=[5.0, 0.0], help="drain windows, seconds")
    parser.add_argument("--batch", type=int, default=500, help="CHANNELS_WS_DRAIN_BATCH")
    parser.add_argument("--clients", type=int, default=4, help="client processes (default 4)")
    parser.add_argument("--deadline", type=float, default=120.0, help="seconds any one step may take")
    parser.add_argument("--cpus", choices=["stack", "one", "free"], default="stack")
    parser.add_argument("--out", type=Path, help="also write every figure as JSON")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # the servers and clients inherit it
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    stack_cpus, load_cpus = apply_layout(args.cpus)
    ours = ours_python()
    layout = Layout(1, 4, 8, 1, 16)
    results = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-restart-") as workdir,
        redisproc.private_redis(cpus=stack_cpus) as port,
    ):
        base = stack_environment(Path(workdir), f"redis://127.0.0.1:{port}/0")
        env = ScaleEnv(ours, ours, base, Path(workdir), stack_cpus, load_cpus, layout, redisproc_pid(port))
        subprocess.run(
            [str(ours), "manage.py", "migrate", "--no-input", "-v0"], cwd=REPO, env=env.ours_env(), check=True
        )
        for window in args.windows:
            redisproc.command(port, b"*1\r\n$8\r\nFLUSHALL\r\n", timeout=10)
            log(f"restart of a server holding {args.sockets:,} sockets, drain window {window:g} s")
            results.append(restart(env, args, window))
    print(f"\nCPUs: stack {stack_cpus}, clients {load_cpus}; {args.clients} client processes; batch {args.batch}")
    keys = [key for key in results[0] if key != "reopens_per_second"] if results else []
    print(f"{'':28}" + "".join(f"{'window ' + format(r['window_s'], 'g') + ' s':>16}" for r in results))
    for key in keys:
        print(f"{key:28}" + "".join(f"{r[key]!s:>16}" for r in results))
    for r in results:
        print(f"reopens per second, window {r['window_s']:g} s: {r['reopens_per_second']}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps({"arguments": vars(args) | {"out": str(args.out)}, "results": results}, indent=2)
        )
    return 0 if all(r["left_without_socket"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
