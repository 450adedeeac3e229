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

Only the standard library is used here; the load generators (``wrk``,
``bench/wsload.py``) and the broadcaster (``bench/broadcast.py``) run as
processes of their own.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import benchlib
import redisproc
from benchlib import log, median
from run import machine_busy, ours_python, redis_version

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PEER_VENV = BENCH / ".venvs" / "daphne4"
PEER_STAMP = PEER_VENV / ".bench-requirements"
PEER_REQUIREMENTS = ["channels[daphne]==4.3.*", "daphne==4.*", "channels-redis==4.3.*"]
#: Pinned to our virtualenv's versions, so the stacks differ in the interface layer only.
SHARED_PACKAGES = ["Django", "redis", "hiredis", "dj-database-url"]
WRK = shutil.which("wrk")
HELLO = "/bench/hello/"


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


@dataclass
class Layout:
    """How many processes and threads each stack runs (the same for every measurement)."""

    runworkers: int  # ours: runworker processes
    worker_threads: int  # ours: --threads of each
    worker_batch: int  # ours: --batch of each
    gunicorn_workers: int  # ours and plain: gunicorn --workers; daphne: processes sharing the HTTP socket
    gunicorn_threads: int  # ours and plain: gunicorn --threads (gthread)

    def runworker_label(self, batch: int) -> str:
        batches = f", batches of {batch}, only django.websocket.*" if batch > 1 else ""
        return f"{self.runworkers} runworker x {self.worker_threads} threads{batches}"

    def describe(self, ws_servers: list[int]) -> list[str]:
        servers = " or ".join(str(n) for n in ws_servers)
        return [
            f"ours WS:     {servers} runwsserver + {self.runworker_label(self.worker_batch)}",
            f"daphne WS:   {servers} daphne process(es), AsyncWebsocketConsumer, channels_redis layer",
            f"ours HTTP:   gunicorn gthread {self.gunicorn_workers} x {self.gunicorn_threads} threads (config.wsgi: "
            f"WSGI adapter) + {self.runworker_label(1)}",
            f"daphne HTTP: {self.gunicorn_workers} daphne process(es) on one shared listening socket (--fd)",
            f"plain HTTP:  gunicorn gthread {self.gunicorn_workers} x {self.gunicorn_threads} threads, "
            "django.core.wsgi, no channels",
        ]


#: Where the processes run (see README.md, "CPU layout"; same reasoning as bench/run.py).
LAYOUTS = {
    "stack": "redis-server and every server process on the first CPU, load generators on the others",
    "one": "everything, load generators included, on the first CPU",
    "free": "no pinning: the OS decides",
}


def apply_layout(layout: str) -> tuple[set[int] | None, set[int] | None]:
    """(CPUs for redis-server and the stacks, CPUs for the load generators)."""
    available = sorted(os.sched_getaffinity(0))
    if layout == "free":
        return None, None
    first = {available[0]}
    if layout == "stack" and len(available) > 1:
        return first, set(available[1:])
    if layout == "stack":
        log("only one CPU available: using --cpus one")
    return first, first


# Setup.


def versions_of(python: Path, packages: list[str]) -> dict[str, str]:
    probe = "import importlib.metadata as m, json, sys; print(json.dumps({p: m.version(p) for p in sys.argv[1:]}))"
    found: dict[str, str] = json.loads(subprocess.check_output([str(python), "-c", probe, *packages], text=True))
    return found


def ensure_peer_venv(ours: Path) -> Path:
    """Create or update ``bench/.venvs/daphne4``; return its python."""
    shared = versions_of(ours, SHARED_PACKAGES)
    requirements = [*PEER_REQUIREMENTS, *(f"{name}=={version}" for name, version in shared.items())]
    python = PEER_VENV / "bin" / "python"
    wanted = "\n".join(requirements)
    if python.exists() and PEER_STAMP.exists() and PEER_STAMP.read_text() == wanted:
        return python
    if not python.exists():
        log(f"creating {PEER_VENV.relative_to(REPO)} ...")
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
    log(f"installing {' '.join(requirements)} into {PEER_VENV.relative_to(REPO)} ...")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requirements], check=True
    )
    PEER_STAMP.write_text(wanted)
    return python


def free_port() -> int:
    return redisproc.free_port()


def pinner(cpus: set[int] | None) -> Callable[[], None] | None:
    if cpus is None:
        return None

    def pin() -> None:  # in the child before exec: every thread it starts inherits it
        os.sched_setaffinity(0, cpus)

    return pin


class Processes:
    """The processes of one stack; :meth:`stop` ends every one of them, also after errors."""

    def __init__(self, logdir: Path, cpus: set[int] | None, redis_pid: int | None = None) -> None:
        self.logdir = logdir
        self.cpus = cpus
        self.redis_pid = redis_pid  # counted with every stack: all of them use it
        self.procs: list[tuple[str, subprocess.Popen[bytes], Path]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str], pass_fds: tuple[int, ...] = ()) -> None:
        path = self.logdir / f"{name}-{len(self.procs)}.log"
        with path.open("wb") as output:
            proc = subprocess.Popen(
                argv,
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: gunicorn's workers are stopped with it
                preexec_fn=pinner(self.cpus),
                pass_fds=pass_fds,
            )
        self.procs.append((name, proc, path))

    def check_alive(self) -> None:
        for name, proc, path in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail(path)}")

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by each kind of process (with every process in its group: gunicorn's workers)."""
        groups = {proc.pid: name for name, proc, _ in self.procs}
        used: dict[str, float] = {}
        for _pid, group, seconds in _all_processes():
            if group in groups:
                used[groups[group]] = used.get(groups[group], 0.0) + seconds
        if self.redis_pid:
            used["redis-server"] = _process_cpu(self.redis_pid)
        return used

    def logs(self) -> str:
        return "\n".join(f"--- {name} ---\n{tail(path, 1500)}" for name, _, path in self.procs)

    def stop(self, timeout: float = 15.0) -> None:
        for _, proc, _ in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for name, proc, _ in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"{name} (pid {proc.pid}) did not stop within {timeout:g} s: killing its process group")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        # gunicorn's workers and daphne are in the group of the process we started: make sure none is left.
        for _, proc, _ in self.procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        self.procs.clear()


_TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int | str) -> list[str]:
    """Fields of /proc/PID/stat after the command name (which may hold spaces): state is [0]."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def _process_cpu(pid: int) -> float:
    try:
        fields = _stat_fields(pid)
    except (OSError, ValueError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


def _all_processes() -> Iterator[tuple[int, int, float]]:
    """(pid, process group, CPU seconds) of every process we can read."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = _stat_fields(entry)
        except (OSError, ValueError):
            continue  # it exited meanwhile
        yield int(entry), int(fields[2]), (int(fields[11]) + int(fields[12])) / _TICK


def cpu_used(before: dict[str, float], after: dict[str, float], count: int) -> dict[str, Any]:
    """CPU per operation, by kind of process, in microseconds."""
    per = {name: round((after[name] - before.get(name, 0.0)) / count * 1e6, 1) for name in after} if count else {}
    return {"cpu_us": per, "cpu_us_total": round(sum(per.values()), 1)}


def tail(path: Path, size: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return ""


# The stacks.


@dataclass
class Env:
    """What every process of the run shares."""

    ours: Path  # python of the project's virtualenv
    peer: Path  # python of bench/.venvs/daphne4
    base: dict[str, str]  # environment variables common to all stacks
    logdir: Path
    stack_cpus: set[int] | None
    load_cpus: set[int] | None
    layout: Layout
    redis_pid: int | None

    def processes(self) -> Processes:
        return Processes(self.logdir, self.stack_cpus, self.redis_pid)

    def ours_env(self) -> dict[str, str]:
        return {**self.base, "DJANGO_SETTINGS_MODULE": "bench.bench_settings"}

    def peer_env(self) -> dict[str, str]:
        return {**self.base, "DJANGO_SETTINGS_MODULE": "bench.peer_asgi.settings"}

    def side_python(self, side: str) -> Path:
        return self.peer if side == "daphne" else self.ours

    def side_env(self, side: str) -> dict[str, str]:
        return self.peer_env() if side == "daphne" else self.ours_env()

    def load(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[str]:
        """A load generator or broadcaster, on the load CPUs."""
        return subprocess.Popen(argv, cwd=REPO, preexec_fn=pinner(self.load_cpus), text=True, **kwargs)


def start_runworkers(env: Env, procs: Processes, batch: int = 1) -> None:
    """Ours' workers; only WebSocket stacks batch (HTTP requests in one batch would wait for each other)."""
    for _ in range(env.layout.runworkers):
        argv = [str(env.ours), "manage.py", "runworker", "--threads", str(env.layout.worker_threads)]
        if batch > 1:  # as docs/howto/scale.rst lays out workers for busy sockets
            argv += ["--batch", str(batch), "--only-channels", "django.websocket.*"]
        procs.start("runworker", argv, env.ours_env())


@contextlib.contextmanager
def websocket_stack(env: Env, side: str, servers: int) -> Iterator[tuple[list[str], Processes]]:
    """Start ``servers`` WebSocket servers (and ours' workers); yield their base URLs once each echoes."""
    procs = env.processes()
    try:
        ports = [free_port() for _ in range(servers)]
        if side == "ours":
            start_runworkers(env, procs, batch=env.layout.worker_batch)
            for port in ports:
                argv = [str(env.ours), "manage.py", "runwsserver", "--port", str(port)]
                procs.start("runwsserver", argv, env.ours_env())
        else:
            daphne = str(env.peer.parent / "daphne")
            for port in ports:
                argv = [daphne, "-b", "127.0.0.1", "-p", str(port), "bench.peer_asgi.asgi:application"]
                procs.start("daphne", argv, env.peer_env())
        bases = [f"ws://127.0.0.1:{port}" for port in ports]
        for base in bases:
            wait_websocket(env, procs, f"{base}/echo/", timeout=60)
        yield bases, procs
    except Exception as error:
        raise RuntimeError(f"{side} WebSocket stack: {error}\n{procs.logs()}") from error
    finally:
        procs.stop()


@contextlib.contextmanager
def http_stack(env: Env, side: str) -> Iterator[tuple[str, Processes]]:
    """Start one HTTP stack; yield the URL of the bench view once it answers 200."""
    procs = env.processes()
    listener: socket.socket | None = None
    try:
        port = free_port()
        layout = env.layout
        gunicorn = [
            str(env.ours.parent / "gunicorn"),
            "-c",
            str(BENCH / "gunicorn_bench.conf.py"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(layout.gunicorn_workers),
            "--threads",
            str(layout.gunicorn_threads),
        ]
        if side == "ours":
            start_runworkers(env, procs)
            procs.start("gunicorn", [*gunicorn, "config.wsgi"], env.ours_env())
        elif side == "plain":
            procs.start("gunicorn", [*gunicorn, "bench.plain_wsgi"], env.ours_env())
        else:
            # Several daphne processes accept on one listening socket, as under a process manager.
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", port))
            listener.listen(1024)
            fd = listener.fileno()
            for _ in range(layout.gunicorn_workers):
                argv = [str(env.peer.parent / "daphne"), "--fd", str(fd), "bench.peer_asgi.asgi:application"]
                procs.start("daphne", argv, env.peer_env(), pass_fds=(fd,))
        url = f"http://127.0.0.1:{port}{HELLO}"
        wait_http(procs, url, timeout=60)
        yield url, procs
    except Exception as error:
        raise RuntimeError(f"{side} HTTP stack: {error}\n{procs.logs()}") from error
    finally:
        procs.stop()
        if listener is not None:
            listener.close()


def wait_http(procs: Processes, url: str, timeout: float) -> None:
    """Poll ``GET url`` until it answers 200, or fail at the deadline (or when a process dies)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        procs.check_alive()
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
                last = f"status {response.status}"
        except OSError as error:
            last = str(error)
        time.sleep(0.05)  # poll interval, bounded by the deadline
    raise RuntimeError(f"{url} did not answer 200 within {timeout:g} s (last: {last})")


def wait_websocket(env: Env, procs: Processes, url: str, timeout: float) -> None:
    """Until the deadline: connect to ``url``, send a frame, get it back (server and workers are up)."""
    probe = env.load(
        [str(env.ours), str(BENCH / "wsload.py"), "probe", "--url", url, "--timeout", str(timeout)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env.ours_env(),
    )
    out, _ = probe.communicate(timeout=timeout + 30)
    if probe.returncode != 0:
        procs.check_alive()
        raise RuntimeError(f"no echo from {url} within {timeout:g} s:\n{out[-2000:]}")


# The measurements.


def run_load(env: Env, argv: list[str], timeout: float, side_env: dict[str, str]) -> dict[str, Any]:
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


def measure_echo(env: Env, side: str, profile: Profile) -> dict[str, Any]:
    with websocket_stack(env, side, 1) as ((base,), procs):
        argv = [
            str(env.ours),
            str(BENCH / "wsload.py"),
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
        with tempfile.TemporaryFile("w+") as errors:
            clients = env.load(argv, stdout=subprocess.PIPE, stderr=errors, env=env.ours_env())
            assert clients.stdout is not None
            lines = Lines(clients.stdout.buffer)
            try:
                lines.wait_for("START", timeout=60)
                before = procs.cpu()
                lines.wait_for("STOP", timeout=profile.echo_seconds + 30)
                after = procs.cpu()
                out = lines.rest(timeout=60)
                clients.wait(timeout=30)
            except Exception as error:
                errors.seek(0)
                raise RuntimeError(f"{side} echo: {error}\n{errors.read()[-3000:]}") from error
            finally:
                if clients.poll() is None:
                    clients.kill()
                    clients.wait()
    result = benchlib.parse_result(out)
    return {**result, **cpu_used(before, after, result["count"])}


class Lines:
    """The lines a child writes to its stdout pipe, read without blocking past a deadline.

    (A text stream's ``readline`` may pull several lines into its buffer, where a
    selector no longer sees them; this reads the raw pipe and keeps the rest.)
    """

    def __init__(self, pipe: IO[bytes]) -> None:
        self.fd = pipe.fileno()
        self.buffer = b""
        self.lines: list[str] = []
        self.eof = False

    def _fill(self, timeout: float) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.fd, selectors.EVENT_READ)
            if selector.select(timeout=max(0.0, timeout)):
                chunk = os.read(self.fd, 65536)
                self.eof = not chunk
                self.buffer += chunk
        *complete, self.buffer = self.buffer.split(b"\n")
        self.lines += [line.decode(errors="replace") for line in complete]

    def wait_for(self, wanted: str, timeout: float) -> None:
        """Consume lines until one equals ``wanted``; fail at the deadline or at end of output."""
        deadline = time.monotonic() + timeout
        while True:
            while self.lines:
                if self.lines.pop(0).strip() == wanted:
                    return
            if self.eof:
                raise RuntimeError(f"the clients exited before {wanted!r}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no {wanted!r} from the clients within {timeout:g} s")
            self._fill(deadline - time.monotonic())

    def rest(self, timeout: float) -> str:
        """Everything up to end of output."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the clients did not finish within {timeout:g} s")
            self._fill(deadline - time.monotonic())
        return "\n".join([*self.lines, self.buffer.decode(errors="replace")])


def measure_broadcast(env: Env, side: str, servers: int, profile: Profile) -> dict[str, Any]:
    """200 clients on /bcast/; a burst of K broadcasts, then paced ones; latencies from the send timestamps."""
    batches = [
        {"name": "burst", "count": profile.bcast_burst, "rate": 0.0},
        {"name": "paced", "count": profile.bcast_paced, "rate": profile.bcast_rate},
    ]
    with websocket_stack(env, side, servers) as (bases, procs):
        argv = [str(env.ours), str(BENCH / "wsload.py"), "bcast", "--clients", str(profile.bcast_clients)]
        argv += [f"--url={base}/bcast/" for base in bases]
        argv += ["--batches", str(len(batches)), "--timeout", "60"]
        with tempfile.TemporaryFile("w+") as errors:
            clients = env.load(argv, stdout=subprocess.PIPE, stderr=errors, env=env.ours_env())
            assert clients.stdout is not None
            lines = Lines(clients.stdout.buffer)
            try:
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
            except Exception as error:
                errors.seek(0)
                raise RuntimeError(f"{side} broadcast: {error}\n{errors.read()[-3000:]}") from error
            finally:
                if clients.poll() is None:
                    clients.kill()
                    clients.wait()
    received = benchlib.parse_result(out)
    for number, (batch, result, sender) in enumerate(zip(batches, received["batches"], sent, strict=True)):
        result.update(name=batch["name"], rate=batch["rate"], send_rate=sender["send_rate"], skipped=sender["skipped"])
        result.update(cpu_used(cpu[2 * number], cpu[2 * number + 1], result["received"]))
    return {"servers": servers, "batches": received["batches"], "errors": received["errors"]}


_WRK_LATENCY = re.compile(r"^\s*(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE)
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(out: str) -> dict[str, Any]:
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


# Summarising and printing.


@dataclass
class Row:
    key: str
    label: str
    unit: str
    lower_is_better: bool
    figures: dict[str, list[float]]  # side -> one figure per round

    def value(self, side: str) -> float | None:
        values = [v for v in self.figures.get(side, []) if v is not None]
        return median(values) if values else None

    @property
    def spread(self) -> float:
        spreads = [
            (max(v) - min(v)) / 2 / median(v)
            for v in self.figures.values()
            if len(v) > 1 and None not in v and median(v)
        ]
        return max(spreads, default=0.0)


def summarize(runs: dict[str, dict[str, list[dict[str, Any]]]], profile: Profile) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    problems: list[str] = []

    def add(key: str, label: str, unit: str, measurement: str, pick: Callable[[dict[str, Any]], Any]) -> None:
        if measurement not in runs:
            return
        figures = {side: [pick(run) for run in side_runs] for side, side_runs in runs[measurement].items()}
        rows.append(Row(key, label, unit, not unit.endswith("/s"), figures))

    echo = f"1. echo, {profile.echo_clients} clients"
    add("echo_rate", echo, "msg/s", "echo", lambda r: r["rate"])
    add("echo_p50", "", "p50 ms", "echo", lambda r: r["p50_ms"])
    add("echo_p99", "", "p99 ms", "echo", lambda r: r["p99_ms"])
    add("echo_cpu", "", "CPU us/msg", "echo", lambda r: r["cpu_us_total"])
    for servers in profile.bcast_servers:
        key = f"bcast_{servers}"
        where = "1 server" if servers == 1 else f"{servers} servers"
        burst = f"2. broadcast to {profile.bcast_clients}, {where}, burst of {profile.bcast_burst}"
        add(f"{key}_burst_rate", burst, "deliveries/s", key, lambda r: r["batches"][0]["deliveries_per_s"])
        add(f"{key}_burst_p50", "", "p50 ms", key, lambda r: r["batches"][0]["p50_ms"])
        add(f"{key}_burst_p99", "", "p99 ms", key, lambda r: r["batches"][0]["p99_ms"])
        add(f"{key}_burst_cpu", "", "CPU us/deliv.", key, lambda r: r["batches"][0]["cpu_us_total"])
        paced = f"   paced, {profile.bcast_rate:g} broadcasts/s x {profile.bcast_paced}"
        add(f"{key}_paced_p50", paced, "p50 ms", key, lambda r: r["batches"][1]["p50_ms"])
        add(f"{key}_paced_p99", "", "p99 ms", key, lambda r: r["batches"][1]["p99_ms"])
    http = f"3. HTTP GET {HELLO}, {profile.http_connections} connections"
    add("http_rate", http, "requests/s", "http", lambda r: r["rate"])
    add("http_p50", "", "p50 ms", "http", lambda r: r["p50_ms"])
    add("http_p99", "", "p99 ms", "http", lambda r: r["p99_ms"])
    add("http_cpu", "", "CPU us/req", "http", lambda r: r["cpu_us_total"])
    add("http_single_p50", "   1 connection", "p50 ms", "http", lambda r: r["single"]["p50_ms"])
    add("http_single_p99", "", "p99 ms", "http", lambda r: r["single"]["p99_ms"])

    for measurement, sides in runs.items():
        for side, side_runs in sides.items():
            for number, run in enumerate(side_runs, 1):
                where = f"{measurement} {side} round {number}"
                if run.get("error_count"):
                    problems.append(f"{where}: {run['error_count']} client error(s), e.g. {run['errors'][:2]}")
                if run.get("non_2xx") or run.get("socket_errors"):
                    problems.append(
                        f"{where}: {run['non_2xx']} non-2xx responses, {run['socket_errors']} socket errors"
                    )
                if run.get("client_cpu", 0) > 0.9:
                    problems.append(
                        f"{where}: the load generator used {run['client_cpu']:.0%} of a CPU (it may be the limit)"
                    )
                for batch in run.get("batches", []):
                    if batch["received"] != batch["expected"] or batch["timed_out"]:
                        problems.append(
                            f"{where} {batch['name']}: received {batch['received']} of {batch['expected']} deliveries"
                            + (" (timed out)" if batch["timed_out"] else "")
                        )
                    if batch["skipped"]:
                        problems.append(f"{where} {batch['name']}: the group send skipped {batch['skipped']} members")
                    if (batch.get("client_cpu") or 0) > 0.9:
                        problems.append(
                            f"{where} {batch['name']}: the clients used {batch['client_cpu']:.0%} of a CPU "
                            "(they may be the limit)"
                        )
                if run.get("errors") and not run.get("error_count"):
                    problems.append(f"{where}: {run['errors'][:2]}")
    return rows, problems


def ratio(ours: float | None, theirs: float | None) -> str:
    return f"{ours / theirs:.2f}x" if ours is not None and theirs else "-"


def print_table(rows: list[Row], header: list[str], problems: list[str]) -> list[str]:
    """Print the table; return the verdict lines."""
    width = max(len(row.label) for row in rows) + 2

    def number(value: float | None, unit: str) -> str:
        if value is None:
            return "-"
        return f"{value:,.2f}" if unit.endswith("ms") else f"{value:,.0f}"  # rates and CPU microseconds

    print()
    print("\n".join(header))
    print()
    print(
        f"{'':{width}}{'':14}{'ours':>11}{'daphne':>11}{'ours/daphne':>13}{'plain':>11}{'ours/plain':>12}{'spread':>9}"
    )
    behind: list[str] = []
    compared = 0
    for row in rows:
        ours, daphne, plain = row.value("ours"), row.value("daphne"), row.value("plain")
        spread = f"±{row.spread:.0%}" if any(len(v) > 1 for v in row.figures.values()) else ""
        plain_text = number(plain, row.unit) if "plain" in row.figures else ""
        plain_ratio = ratio(ours, plain) if "plain" in row.figures else ""
        print(
            f"{row.label:{width}}{row.unit:14}{number(ours, row.unit):>11}{number(daphne, row.unit):>11}"
            f"{ratio(ours, daphne):>13}{plain_text:>11}{plain_ratio:>12}{spread:>9}"
        )
        if ours is not None and daphne is not None:
            compared += 1
            worse = ours > daphne if row.lower_is_better else ours < daphne
            if worse:
                label = row.label.strip() or previous_label(rows, row)
                behind.append(f"{label} {row.unit}: ours {number(ours, row.unit)}, daphne {number(daphne, row.unit)}")
    print()
    print("Ratios are ours/theirs: above 1 is better for rates (/s), below 1 is better for latencies and CPU.")
    verdict = [f"Ahead of daphne on {compared - len(behind)} of {compared} figures."]
    verdict += [f"  behind: {line}" for line in behind]
    by_key = {row.key: row for row in rows}
    for key, where in [
        ("http_p50", f", {profile_connections(rows)} connections"),
        ("http_p99", f", {profile_connections(rows)} connections"),
        ("http_single_p50", ", 1 connection"),
        ("http_single_p99", ", 1 connection"),
    ]:
        row = by_key.get(key)
        if row is not None and row.value("ours") is not None and row.value("plain"):
            value = row.value("ours") / row.value("plain")  # type: ignore[operator]
            verdict.append(
                f"HTTP {row.unit}{where}: through channels / plain gunicorn = {value:.2f}x "
                f"({'within' if value <= 2 else 'NOT within'} the 2x target)"
            )
    print("\n".join(verdict))
    print()
    if problems:
        print("CHECKS FAILED:")
        for problem in problems:
            print(f"  - {problem}")
    else:
        print("Checks: every echo came back, every broadcast reached every socket, every HTTP answer was 200.")
    return verdict


def profile_connections(rows: list[Row]) -> str:
    """The connection count in the HTTP row's label."""
    label = next((row.label for row in rows if row.key == "http_rate"), "")
    found = re.search(r"(\d+) connections", label)
    return found.group(1) if found else "?"


def previous_label(rows: list[Row], row: Row) -> str:
    label = ""
    for other in rows:
        if other.label.strip():
            label = other.label.strip()
        if other is row:
            break
    return label


# Main.


def redisproc_pid(port: int) -> int | None:
    """The server's process id, from ``INFO server`` (its CPU time is counted with every stack)."""
    reply = redisproc.command(port, b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n", timeout=5)
    found = re.search(rb"process_id:(\d+)", reply)
    return int(found.group(1)) if found else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one short round (under a minute)")
    parser.add_argument("--out", type=Path, help="also write the figures and every raw run to this JSON file")
    parser.add_argument(
        "--cpus",
        choices=sorted(LAYOUTS),
        default="stack",
        help="CPU layout: " + "; ".join(f"{name}: {text}" for name, text in LAYOUTS.items()) + " (default: stack)",
    )
    parser.add_argument("--only", nargs="+", choices=["echo", "bcast", "http"], help="run only these measurements")
    parser.add_argument("--rounds", type=int, help="override the profile's number of rounds")
    parser.add_argument("--runworkers", type=int, default=1, help="ours: runworker processes (default 1)")
    parser.add_argument("--worker-threads", type=int, default=4, help="ours: threads per runworker (default 4)")
    parser.add_argument(
        "--worker-batch", type=int, default=8, help="ours: runworker --batch for the WebSocket stacks (default 8)"
    )
    parser.add_argument(
        "--gunicorn-workers", type=int, default=1, help="ours and plain: gunicorn processes; daphne: processes (1)"
    )
    parser.add_argument("--gunicorn-threads", type=int, default=16, help="ours and plain: gunicorn threads (16)")
    args = parser.parse_args()
    profile = QUICK if args.quick else FULL
    if args.rounds:
        profile.rounds = args.rounds
    only = set(args.only or ["echo", "bcast", "http"])
    layout = Layout(
        args.runworkers, args.worker_threads, args.worker_batch, args.gunicorn_workers, args.gunicorn_threads
    )
    if "http" in only and WRK is None:
        log("wrk is not installed (Debian: apt-get install wrk); it is the HTTP load generator")
        return 2
    started = time.monotonic()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    busy = machine_busy()
    if busy is not None and busy > 0.15:
        log(f"warning: {busy:.0%} of the CPUs were busy before the run; figures will be lower and noisier")
    ours = ours_python()
    peer = ensure_peer_venv(ours)
    stack_cpus, load_cpus = apply_layout(args.cpus)
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    workdir = Path(tempfile.mkdtemp(prefix="bench-interfaces-"))
    try:
        with redisproc.private_redis(cpus=stack_cpus) as port:
            redis_url = f"redis://127.0.0.1:{port}/0"
            base = {
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
            env = Env(ours, peer, base, workdir, stack_cpus, load_cpus, layout, redisproc_pid(port))
            subprocess.run(
                [str(ours), "manage.py", "migrate", "--no-input", "-v0"], cwd=REPO, env=env.ours_env(), check=True
            )
            log(f"redis-server {redis_version()} on port {port}; CPUs: stacks {stack_cpus}, load {load_cpus}")
            plan: list[tuple[str, list[str], Callable[[str], dict[str, Any]]]] = []
            if "echo" in only:
                plan.append(("echo", ["ours", "daphne"], lambda side: measure_echo(env, side, profile)))
            if "bcast" in only:
                for servers in profile.bcast_servers:
                    plan.append(
                        (
                            f"bcast_{servers}",
                            ["ours", "daphne"],
                            lambda side, n=servers: measure_broadcast(env, side, n, profile),  # type: ignore[misc]
                        )
                    )
            if "http" in only:
                plan.append(("http", ["ours", "daphne", "plain"], lambda side: measure_http(env, side, profile)))
            for number in range(profile.rounds):
                for measurement, sides, measure in plan:
                    # Take turns: who goes first rotates between rounds.
                    turn = number % len(sides)
                    for side in sides[turn:] + sides[:turn]:
                        log(f"round {number + 1}/{profile.rounds}: {measurement}: {side} ...")
                        redisproc.flushall(port)
                        result = measure(side)
                        runs.setdefault(measurement, {s: [] for s in sides})[side].append(result)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    rows, problems = summarize(runs, profile)
    versions = {
        "ours": versions_of(ours, ["Django", "websockets", "gunicorn", "redis", "hiredis"]),
        "daphne": versions_of(peer, ["Django", "channels", "daphne", "channels-redis", "Twisted", "redis", "hiredis"]),
    }
    theirs = versions["daphne"]
    header = [
        f"Median of {profile.rounds} round(s); each stack started fresh for each measurement.",
        f"{os.cpu_count()} CPUs; CPU layout '{args.cpus}': {LAYOUTS[args.cpus]}.",
        f"CPUs busy with other work just before the run: {'?' if busy is None else f'{busy:.0%}'}.",
        f"Python {platform.python_version()}, redis-server {redis_version()}, Django {versions['ours']['Django']}, "
        f"websockets {versions['ours']['websockets']}, gunicorn {versions['ours']['gunicorn']}; "
        f"peer: channels {theirs['channels']}, daphne {theirs['daphne']}, channels_redis {theirs['channels-redis']}, "
        f"Twisted {theirs['Twisted']}.",
        "Processes:",
        *(f"  {line}" for line in layout.describe(profile.bcast_servers)),
        f"Load: wsload.py (asyncio websockets client, one process), broadcast.py, wrk "
        f"(-c{profile.http_connections}); on CPUs {load_cpus if load_cpus else 'any'}.",
    ]
    verdict = print_table(rows, header, problems)
    elapsed = time.monotonic() - started
    log(f"done in {elapsed:.0f} s")
    if args.out:
        report = {
            "profile": "quick" if args.quick else "full",
            "cpu_layout": args.cpus,
            "settings": asdict(profile),
            "layout": asdict(layout),
            "environment": {
                "cpus": os.cpu_count(),
                "busy_before_run": busy,
                "python": platform.python_version(),
                "redis_server": redis_version(),
                "versions": versions,
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
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        log(f"wrote {args.out}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
