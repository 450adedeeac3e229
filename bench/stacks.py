"""The stacks ``bench/interfaces.py`` compares, each started fresh and stopped completely.

* **ours**: ``manage.py runwsserver`` and ``manage.py runworker`` for WebSockets;
  gunicorn with the WSGI adapter (``config.wsgi``) and ``runworker`` for HTTP;
* **daphne**: Channels 4.3 + daphne + channels_redis, from ``bench/.venvs/daphne4``;
* **plain** (HTTP only): gunicorn with ``django.core.wsgi``, no channels.

A stack is ready when it answers: an HTTP 200 for the bench view, or a
WebSocket echo through server *and* workers (polled with a deadline).
Standard library only, like the orchestrator that imports it.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redisproc
import venvs
from processes import BENCH, REPO, Processes, pinner

PEER_VENV = BENCH / ".venvs" / "daphne4"
PEER_REQUIREMENTS = ["channels[daphne]==4.3.*", "daphne==4.*", "channels-redis==4.3.*"]
#: Pinned to our virtualenv's versions, so the stacks differ in the interface layer only.
SHARED_PACKAGES = ["Django", "redis", "hiredis", "dj-database-url"]
HELLO = "/bench/hello/"


def ensure_peer_venv(ours: Path) -> Path:
    """Create or update ``bench/.venvs/daphne4``; return its python."""
    return venvs.ensure_venv(PEER_VENV, [*PEER_REQUIREMENTS, *venvs.pinned_like(ours, SHARED_PACKAGES)])


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
        ports = [redisproc.free_port() for _ in range(servers)]
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
        port = redisproc.free_port()
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
