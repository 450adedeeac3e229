"""A private ``redis-server`` for one benchmark run, and ``redis-benchmark`` against it.

Standard library only: the orchestrator needs neither redis-py nor Django.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_BENCHMARK = shutil.which("redis-benchmark") or "/usr/bin/redis-benchmark"

_PING = b"*1\r\n$4\r\nPING\r\n"


def free_port() -> int:
    """A TCP port nobody listens on right now (the server may still lose a race for it: see :func:`private_redis`)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def command(port: int, request: bytes, timeout: float = 1.0) -> bytes:
    """Send one raw RESP request and return the first reply chunk."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(request)
        return conn.recv(65536)


def _answers_ping(port: int) -> bool:
    try:
        return command(port, _PING, timeout=0.5).startswith(b"+PONG")
    except OSError:
        return False


def flushall(port: int) -> None:
    """Empty the server between measurements, so one side's leftovers cost the other nothing."""
    reply = command(port, b"*1\r\n$8\r\nFLUSHALL\r\n", timeout=30)
    if not reply.startswith(b"+OK"):
        raise RuntimeError(f"FLUSHALL failed: {reply!r}")


@contextlib.contextmanager
def private_redis(cpus: set[int] | None = None, start_timeout: float = 10.0, attempts: int = 3) -> Iterator[int]:
    """Run ``redis-server`` on a free loopback port without persistence; yield the port; always stop it.

    ``cpus``: pin the server (all its threads) to these CPUs; ``None`` leaves it to the OS.
    """

    def pin() -> None:  # runs in the child before exec, so every thread the server starts inherits it
        if cpus is not None:
            os.sched_setaffinity(0, cpus)

    workdir = Path(tempfile.mkdtemp(prefix="bench-redis-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        for _ in range(attempts):
            port = free_port()
            log_path = workdir / f"redis-{port}.log"
            with log_path.open("wb") as log_file:
                proc = subprocess.Popen(
                    [
                        REDIS_SERVER,
                        "--port",
                        str(port),
                        "--bind",
                        "127.0.0.1",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--dir",
                        str(workdir),
                    ],
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    preexec_fn=pin,
                )
            deadline = time.monotonic() + start_timeout
            while proc.poll() is None and time.monotonic() < deadline and not _answers_ping(port):
                time.sleep(0.02)  # poll interval while the server starts, bounded by the deadline
            if proc.poll() is None and _answers_ping(port):
                break
            # Lost the port to someone else, or the server failed: stop it and try another port.
            _stop(proc)
            proc = None
        if proc is None:
            tail = "\n".join(p.read_text(errors="replace")[-1500:] for p in workdir.glob("*.log"))
            raise RuntimeError(f"redis-server did not answer PING after {attempts} attempts:\n{tail}")
        yield port
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()  # SIGTERM: redis-server shuts down cleanly (nothing to save)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


_RESULT_LINE = re.compile(r"^(?P<test>[A-Z_]+): (?P<rps>[\d.]+) requests per second(?:, p50=(?P<p50>[\d.]+) msec)?")


def redis_benchmark(port: int, requests: int, clients: int | None = None) -> dict[str, dict[str, float | None]]:
    """``redis-benchmark -q`` for PING, SET, GET, LPUSH, LPOP; {test: {rps, p50_ms}}."""
    args = [REDIS_BENCHMARK, "-p", str(port), "-q", "-n", str(requests), "-t", "ping,set,get,lpush,lpop"]
    if clients is not None:
        args += ["-c", str(clients)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=True)
    results: dict[str, dict[str, float | None]] = {}
    # -q rewrites a progress line with carriage returns; the final figures end each test.
    for line in re.split(r"[\r\n]+", done.stdout):
        match = _RESULT_LINE.match(line.strip())
        if match:
            results[match["test"]] = {
                "rps": float(match["rps"]),
                "p50_ms": float(match["p50"]) if match["p50"] else None,
            }
    if not results:
        raise RuntimeError(f"could not parse redis-benchmark output:\n{done.stdout[-2000:]}")
    return results
