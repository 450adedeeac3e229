"""Real processes for tests: free ports, waits with deadlines, logged subprocesses, a private Redis and PostgreSQL.

Nothing here sleeps for a fixed time: every wait polls a condition until a
deadline (:func:`wait_until`) and fails with what it was waiting for.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import redis

__all__ = [
    "ManagedProcess",
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


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
