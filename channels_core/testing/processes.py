"""Real processes for tests: free ports, waits with deadlines, logged subprocesses, a private Redis and PostgreSQL.

Nothing here sleeps for a fixed time: every wait polls a condition until a
deadline (:func:`wait_until`) and fails with what it was waiting for.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import redis

__all__ = [
    "ManagedProcess",
    "PostgresServer",
    "RedisServer",
    "free_port",
    "http_ok",
    "http_status",
    "wait_past",
    "wait_until",
]

T = TypeVar("T")

#: The longest pause between two polls of wait_until, in seconds.
MAX_POLL_INTERVAL = 0.1


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], T], timeout: float = 15.0, what: str = "condition") -> T:
    """Poll ``condition`` until it returns something truthy, and return that.

    The polls start 5 ms apart and back off to 0.1 s apart.

    Args:
        condition: Called with no arguments; an exception it raises ends the wait.
        timeout: Seconds before giving up.
        what: What is awaited, for the failure message.

    Raises:
        AssertionError: ``condition`` was still falsy after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(pause)  # wait-ok: the poll interval of a deadline-bounded wait
        pause = min(pause * 2, MAX_POLL_INTERVAL)


def wait_past(seconds: float) -> None:
    """Wait until ``seconds`` have passed: for tests whose condition *is* the passage of time (expiry)."""
    end = time.monotonic() + seconds
    wait_until(lambda: time.monotonic() >= end, timeout=seconds + 5, what=f"{seconds} s to pass")


def http_status(url: str, timeout: float = 10.0) -> int | None:
    """The status code of ``GET url``, or ``None`` while nothing answers there yet (for :func:`wait_until`)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310  (http:// URLs of the test)
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, ConnectionError):
        return None


def http_ok(url: str) -> bool:
    """Whether ``GET url`` answers 200 now (``False`` while nothing listens there yet)."""
    return http_status(url) == 200


class ManagedProcess:
    """A subprocess in a process group of its own, its output (stdout and stderr) in a log file.

    Args:
        command: The command line.
        env: Variables added to (or overriding) this process's environment.
        log: The file that receives the output; read it with :meth:`output`.
        cwd: The working directory (default: the current one).
    """

    def __init__(self, command: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path | None = None) -> None:
        self.log = log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env={**os.environ, **env},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stop() also ends its children
        )

    def output(self) -> str:
        """Everything the process has printed so far."""
        return self.log.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 20.0) -> None:
        """Wait until the process has printed ``text``.

        Raises:
            AssertionError: The process exited without printing it, or
                ``timeout`` seconds passed; the message carries the output.
        """

        def seen() -> bool:
            if self.process.poll() is not None and text not in self.output():
                raise AssertionError(
                    f"process exited ({self.process.returncode}) before printing {text!r}:\n" + self.output()
                )
            return text in self.output()

        try:
            wait_until(seen, timeout, what=f"{text!r} in {self.log.name}")
        except AssertionError as error:
            if self.process.poll() is not None:
                raise
            raise AssertionError(f"{error}; its output so far:\n{self.output()}") from None

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the process (not to its children)."""
        self.process.send_signal(signum)

    def kill(self) -> None:
        """``kill -9`` the process, as a crash would, and reap it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM the process group, SIGKILL it after ``timeout`` seconds; return the exit status.

        Stopping a process again does nothing more.
        """
        if self._log_file.closed:
            return self.process.returncode
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # children left behind (an autoreloader's)
        self._log_file.close()
        return self.process.returncode


class RedisServer:
    """A private ``redis-server`` on 127.0.0.1, with nothing saved to disk.

    Args:
        port: The port to listen on (default: a free one). :meth:`start` after
            :meth:`stop` listens on the same port: a restart, as clients see it.
        executable: The ``redis-server`` program.
        options: More ``redis-server`` options, e.g. ``["--maxmemory", "10mb"]``.
    """

    def __init__(self, port: int | None = None, executable: str = "redis-server", options: Sequence[str] = ()) -> None:
        self.port = port or free_port()
        self.executable = executable
        self.options = list(options)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start the server and wait until it answers ``PING``; return it."""
        self.process = subprocess.Popen(
            [
                *(self.executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
                *self.options,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with redis.Redis(port=self.port, socket_connect_timeout=0.5) as client:
            wait_until(lambda: _answers(client), timeout, what=f"redis-server on port {self.port}")
        return self

    def stop(self) -> None:
        """Stop the server (its data is gone)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def client(self) -> redis.Redis:
        """A new client of this server; close it when done."""
        return redis.Redis(port=self.port)


class PostgresServer:
    """A private PostgreSQL server on 127.0.0.1: a cluster of its own, trust authentication, a free port.

    The first :meth:`start` makes the cluster with ``initdb``; :meth:`stop`
    then :meth:`start` is a restart as clients see it (same data, same port).
    It listens on 127.0.0.1 only, and on a Unix socket in its own folder.

    PostgreSQL refuses to run as root, so a root test process runs it as
    ``user``. That user must reach the cluster's folder, and pytest's
    temporary folders are private to root (mode 0700): then the cluster lives
    in a folder of its own in the system's temporary folder (``directory /
    "postgres"`` links to it) until :meth:`remove`.

    Args:
        directory: The test's folder for the cluster and its log (``postgres/`` in it).
        port: The port to listen on (default: a free one).
        bin_dir: Where ``initdb`` and ``pg_ctl`` are (default: the newest
            ``/usr/lib/postgresql/<version>/bin``, else the ``PATH``'s).
        user: The system user that runs the server when this process is root.

    Raises:
        FileNotFoundError: ``initdb`` is not installed.
    """

    def __init__(
        self, directory: Path, port: int | None = None, bin_dir: Path | None = None, user: str = "postgres"
    ) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.bin_dir = bin_dir or _postgres_bin_dir()
        self.user = user if os.geteuid() == 0 else None
        #: The cluster's folder (data, socket, log), made by the first :meth:`start`.
        self.home: Path | None = None
        #: The postmaster's process id while it runs.
        self.pid: int | None = None

    @property
    def url(self) -> str:
        """``postgres://postgres@127.0.0.1:<port>/postgres``."""
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def database_settings(self) -> dict[str, Any]:
        """An entry of Django's ``DATABASES`` for this server's ``postgres`` database."""
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "postgres",
            "USER": "postgres",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
        }

    @property
    def log(self) -> Path:
        """The server's log file."""
        return self._home() / "postgres.log"

    def start(self, timeout: float = 30.0) -> PostgresServer:
        """Make the cluster if there is none yet, start the server and wait until it accepts connections; return it."""
        data = self._home() / "data"
        if not (data / "PG_VERSION").exists():
            self._initdb(data)
        self._pg_ctl("-D", str(data), "-l", str(self.log), "-w", "-t", str(int(timeout)), "start", timeout=timeout)
        self.pid = int((data / "postmaster.pid").read_text().split()[0])
        wait_until(self._accepts, timeout, what=f"PostgreSQL on port {self.port}")
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server (a fast shutdown: it disconnects its clients); by its pid if ``pg_ctl`` cannot.

        Stopping a stopped server does nothing.
        """
        if self.pid is None:
            return
        try:
            self._pg_ctl("-D", str(self._home() / "data"), "-m", "fast", "-w", "-t", str(int(timeout)), "stop")
        except (RuntimeError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            pid = self.pid
            wait_until(lambda: not _alive(pid), timeout, what=f"PostgreSQL (pid {pid}) to die")
        self.pid = None

    def remove(self) -> None:
        """Stop the server and delete its cluster when it lives outside ``directory`` (pytest deletes the rest)."""
        self.stop()
        link = self.directory / "postgres"
        if link.is_symlink():
            shutil.rmtree(link.resolve(), ignore_errors=True)
            link.unlink()

    def connect(self) -> Any:
        """A new ``psycopg`` connection to the ``postgres`` database, in autocommit mode; close it when done."""
        import psycopg  # here, so that sites without PostgreSQL can use the rest of the module

        return psycopg.connect(self.url, autocommit=True, connect_timeout=2)

    def _accepts(self) -> bool:
        import psycopg

        try:
            self.connect().close()
        except psycopg.OperationalError:
            return False
        return True

    def _home(self) -> Path:
        """The cluster's folder, made the first time: reachable by the user that runs the server."""
        if self.home is not None:
            return self.home
        link = self.directory / "postgres"
        if self.user is None or self._as_user_succeeds("test", "-x", str(self.directory)):
            link.mkdir(parents=True, exist_ok=True)
            self.home = link
        else:
            self.home = Path(tempfile.mkdtemp(prefix="postgres-"))
            link.symlink_to(self.home)
        if self.user is not None:
            account = pwd.getpwnam(self.user)
            os.chown(self.home, account.pw_uid, account.pw_gid)
        return self.home

    def _initdb(self, data: Path) -> None:
        """Make the cluster, then set where and how it listens, and that it never waits for the disk."""
        self._run(
            str(self.bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
            "--encoding=UTF8", "--no-locale", "--no-sync", "--no-instructions", timeout=120,
        )  # fmt: skip
        socket_dir = self._home() / "socket"
        self._run("mkdir", str(socket_dir), timeout=10)  # as the server's user, who must write there
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{socket_dir}'\nfsync = off\nfull_page_writes = off\n"
            )

    def _pg_ctl(self, *args: str, timeout: float = 30.0) -> None:
        self._run(str(self.bin_dir / "pg_ctl"), *args, timeout=timeout + 10)

    def _run(self, *command: str, timeout: float) -> None:
        """Run ``command`` as the server's user to its end.

        Raises:
            RuntimeError: It failed; the message carries its output and the server's log.
        """
        result = subprocess.run(
            self._as_user(command), cwd=self._home(), capture_output=True, text=True, timeout=timeout
        )
        if result.returncode:
            log = self.log.read_text(errors="replace") if self.log.exists() else "(no log yet)"
            raise RuntimeError(
                f"{' '.join(command)} exited with {result.returncode}:\n{result.stdout}{result.stderr}\n"
                f"server log {self.log}:\n{log}"
            )

    def _as_user(self, command: Sequence[str]) -> list[str]:
        """``command`` run as the server's user (without a shell or a session: signals reach it directly)."""
        if self.user is None:
            return list(command)
        return ["setpriv", f"--reuid={self.user}", f"--regid={self.user}", "--init-groups", "--", *command]

    def _as_user_succeeds(self, *command: str) -> bool:
        return subprocess.run(self._as_user(command), capture_output=True, timeout=10).returncode == 0


def _postgres_bin_dir() -> Path:
    """The newest PostgreSQL server programs Debian installed, else those on the ``PATH``."""
    versions = [path.parent for path in Path("/usr/lib/postgresql").glob("*/bin/initdb")]
    if versions:
        return max(versions, key=lambda bin_dir: int(bin_dir.parent.name) if bin_dir.parent.name.isdigit() else 0)
    on_path = shutil.which("initdb")
    if on_path is None:
        raise FileNotFoundError(
            "no initdb in /usr/lib/postgresql/<version>/bin or on the PATH: install PostgreSQL's server programs"
        )
    return Path(on_path).parent


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, dead but not yet reaped by its parent, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
