"""The processes of ``bench/interfaces.py``: where they run, what they cost, and how they are stopped.

* CPU layouts (``--cpus``) and pinning a child to its CPUs before it starts;
* :class:`Processes`: the processes of one stack, each in a process group of its
  own, with their logs, their CPU time read from ``/proc``, and a stop that
  leaves nothing behind;
* :class:`Lines`: a child's standard output, read line by line with deadlines.

Standard library only, like the orchestrator that imports it.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from benchlib import log

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent  # every process starts here

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


def pinner(cpus: set[int] | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that pins the child to ``cpus``; ``None`` (no pinning) for ``None``."""
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
        """Start ``argv`` from the repository root, pinned, with its output in a log file of the run."""
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
        """Raise, with the end of its log, if any process has exited."""
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
            used["redis-server"] = process_cpu(self.redis_pid)
        return used

    def logs(self) -> str:
        """The end of every process' log, for an error message."""
        return "\n".join(f"--- {name} ---\n{tail(path, 1500)}" for name, _, path in self.procs)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to every process; after ``timeout``, SIGKILL to every process group, so no child is left."""
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


def tail(path: Path, size: int = 3000) -> str:
    """The last ``size`` characters of a log file (empty if it cannot be read)."""
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return ""


# CPU time, from /proc.

_TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int | str) -> list[str]:
    """Fields of /proc/PID/stat after the command name (which may hold spaces): state is [0]."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def process_cpu(pid: int) -> float:
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


# A child's output.


class Lines:
    """The lines a child writes to its stdout pipe, read without blocking past a deadline.

    (A text stream's ``readline`` may pull several lines into its buffer, where a
    selector no longer sees them; this reads the pipe's file descriptor and keeps the rest.)
    """

    def __init__(self, pipe: IO[Any]) -> None:
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
