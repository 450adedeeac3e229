"""A private PostgreSQL server for tests that stop and start their database (an outage)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .processes import free_port, wait_until

__all__ = ["PostgresServer"]


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
