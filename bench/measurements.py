"""The measurements of ``bench/interfaces.py``, the same for every stack; each starts its stack fresh.

1. WebSocket echo (``wsload.py echo``): round trips/s and their latency;
2. group broadcast (``wsload.py bcast`` receives, ``broadcast.py`` sends with
   the stack's own API): a burst, then paced broadcasts;
3. HTTP ``GET`` with ``wrk``: requests/s and latency, many connections then one.

Each also counts the CPU time of the stack's processes (and redis-server) in
its measured window. The load generators run as processes of their own, on the
load CPUs; standard library only here.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import benchlib
from processes import BENCH, Lines, cpu_used
from stacks import Env, http_stack, websocket_stack

WRK = shutil.which("wrk")


@dataclass
class Profile:
    """How long and how often to measure."""

    rounds: int  # every stack is measured this many times, in turns; the table shows medians
    echo_clients: int
    echo_seconds: float
    echo_warmup: float
    bcast_clients: int
    bcast_burst: int  # broadcasts sent back to back ("K")
    bcast_rate: float  # paced broadcasts per second
    bcast_paced: int  # how many paced broadcasts
    bcast_servers: list[int]  # interface servers the clients are spread over, one measurement each
    http_connections: int
    http_seconds: int
    http_warmup: int
    http_single_seconds: int  # then one connection: latency without queueing


FULL = Profile(
    rounds=2,
    echo_clients=50,
    echo_seconds=5.0,
    echo_warmup=1.0,
    bcast_clients=200,
    bcast_burst=200,
    bcast_rate=20.0,
    bcast_paced=40,
    bcast_servers=[1, 2],
    http_connections=16,
    http_seconds=6,
    http_warmup=1,
    http_single_seconds=3,
)
QUICK = Profile(
    rounds=1,
    echo_clients=50,
    echo_seconds=2.0,
    echo_warmup=0.5,
    bcast_clients=200,
    bcast_burst=50,
    bcast_rate=20.0,
    bcast_paced=20,
    bcast_servers=[1],
    http_connections=16,
    http_seconds=3,
    http_warmup=1,
    http_single_seconds=2,
)


def run_load(env: Env, argv: list[str], timeout: float, side_env: dict[str, str]) -> dict[str, Any]:
    """Run a load process to its end on the load CPUs; its ``RESULT`` line."""
    proc = env.load(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=side_env)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise RuntimeError(f"{Path(argv[1]).name} did not finish within {timeout:g} s") from None
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} failed ({proc.returncode}):\n{err[-3000:]}")
    return benchlib.parse_result(out)


@contextlib.contextmanager
def wsload(env: Env, argv: list[str], what: str) -> Iterator[tuple[subprocess.Popen[str], Lines]]:
    """Run ``wsload.py`` with ``argv`` on the load CPUs; yield it and its output lines.

    An error in the block is raised again with ``what`` and the end of the
    clients' stderr; the clients never outlive the block.
    """
    with tempfile.TemporaryFile("w+") as errors:
        clients = env.load(
            [str(env.ours), str(BENCH / "wsload.py"), *argv], stdout=subprocess.PIPE, stderr=errors, env=env.ours_env()
        )
        assert clients.stdout is not None
        try:
            yield clients, Lines(clients.stdout)
        except Exception as error:
            errors.seek(0)
            raise RuntimeError(f"{what}: {error}\n{errors.read()[-3000:]}") from error
        finally:
            if clients.poll() is None:
                clients.kill()
                clients.wait()


def measure_echo(env: Env, side: str, profile: Profile) -> dict[str, Any]:
    """N clients on /echo/, each sending a frame and awaiting it, over and over; CPU counted between START and STOP."""
    with websocket_stack(env, side, 1) as ((base,), procs):
        argv = [
            "echo",
            "--url",
            f"{base}/echo/",
            "--clients",
            str(profile.echo_clients),
            "--seconds",
            str(profile.echo_seconds),
            "--warmup",
            str(profile.echo_warmup),
        ]
        with wsload(env, argv, f"{side} echo") as (clients, lines):
            lines.wait_for("START", timeout=60)
            before = procs.cpu()
            lines.wait_for("STOP", timeout=profile.echo_seconds + 30)
            after = procs.cpu()
            out = lines.rest(timeout=60)
            clients.wait(timeout=30)
    result = benchlib.parse_result(out)
    return {**result, **cpu_used(before, after, result["count"])}


def measure_broadcast(env: Env, side: str, servers: int, profile: Profile) -> dict[str, Any]:
    """200 clients on /bcast/; a burst of K broadcasts, then paced ones; latencies from the send timestamps."""
    batches = [
        {"name": "burst", "count": profile.bcast_burst, "rate": 0.0},
        {"name": "paced", "count": profile.bcast_paced, "rate": profile.bcast_rate},
    ]
    with websocket_stack(env, side, servers) as (bases, procs):
        argv = ["bcast", "--clients", str(profile.bcast_clients)]
        argv += [f"--url={base}/bcast/" for base in bases]
        argv += ["--batches", str(len(batches)), "--timeout", "60"]
        with wsload(env, argv, f"{side} broadcast") as (clients, lines):
            lines.wait_for(benchlib.READY, timeout=60)
            sent = []
            cpu = []
            for number, batch in enumerate(batches):
                cpu.append(procs.cpu())
                sender = [
                    str(env.side_python(side)),
                    str(BENCH / "broadcast.py"),
                    "--side",
                    "theirs" if side == "daphne" else "ours",
                    "--members",
                    str(profile.bcast_clients),
                    "--count",
                    str(batch["count"]),
                    "--rate",
                    str(batch["rate"]),
                    "--batch",
                    str(number),
                ]
                sent.append(run_load(env, sender, 120, env.side_env(side)))
                lines.wait_for(f"DONE {number}", timeout=90)
                cpu.append(procs.cpu())
            out = lines.rest(timeout=60)
            clients.wait(timeout=30)
    received = benchlib.parse_result(out)
    for number, (batch, result, sending) in enumerate(zip(batches, received["batches"], sent, strict=True)):
        result.update(name=batch["name"], rate=batch["rate"])
        result.update(send_rate=sending["send_rate"], skipped=sending["skipped"])
        result.update(cpu_used(cpu[2 * number], cpu[2 * number + 1], result["received"]))
    return {"servers": servers, "batches": received["batches"], "errors": received["errors"]}


_WRK_LATENCY = re.compile(r"^\s*(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE)
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(out: str) -> dict[str, Any]:
    """Rate, count, latency percentiles and errors from the output of ``wrk --latency``."""
    percentiles = {f"p{p}_ms": round(float(v) * _UNIT_MS[u], 3) for p, v, u in _WRK_LATENCY.findall(out)}
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if rps is None or total is None or "p50_ms" not in percentiles:
        raise RuntimeError(f"could not parse wrk's output:\n{out[-2000:]}")
    return {
        "rate": float(rps.group(1)),
        "count": int(total.group(1)),
        **percentiles,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(int(n) for n in sockets.groups()) if sockets else 0,
    }


def measure_http(env: Env, side: str, profile: Profile) -> dict[str, Any]:
    """``wrk``: a warm-up, then N connections (CPU counted), then one connection (latency without queueing)."""
    assert WRK is not None
    threads = len(env.load_cpus) if env.load_cpus else 2
    with http_stack(env, side) as (url, procs):

        def wrk(seconds: int, connections: int) -> dict[str, Any]:
            argv = [WRK, f"-t{min(threads, connections)}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
            proc = env.load([*argv, "--latency", url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            out, _ = proc.communicate(timeout=seconds + 60)
            if proc.returncode != 0:
                raise RuntimeError(f"wrk failed ({proc.returncode}):\n{out[-2000:]}")
            return parse_wrk(out)

        wrk(profile.http_warmup, profile.http_connections)  # warm-up: every thread has served
        before = procs.cpu()
        result = wrk(profile.http_seconds, profile.http_connections)
        after = procs.cpu()
        one = wrk(profile.http_single_seconds, 1)
    return {
        **result,
        **cpu_used(before, after, result["count"]),
        "connections": profile.http_connections,
        "wrk_threads": threads,
        "seconds": profile.http_seconds,
        "single": one,
    }
