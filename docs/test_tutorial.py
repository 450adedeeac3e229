"""The tutorial as a reader types it: every ``console`` block of docs/tutorial/ runs, and prints what the docs show.

How it runs
-----------

The parts are read in the order of the tutorial's toctree. Every
``.. code-block:: console`` block is a list of commands, each a line starting
with ``$`` (a trailing ``\\`` continues it), followed by the output the docs
show for it. The blocks run in that order, in one fresh copy of the project:
the files of the checkout that git tracks or would track (no ``.venv``,
``db.sqlite3``, ``media/`` or ``staticfiles/``), with ``.venv`` a link to the
checkout's virtualenv. The commands run in ``bash`` as one session: a variable
that one command sets or exports is there for the next, as in a terminal.

A command runs until it exits. Its standard input is closed (the reader's
Ctrl-D) as soon as it has printed every documented line but the last, so an
interactive client such as ``python -m websockets`` ends as the docs show. Its
exit status must be 0, its output must match, and it must end within a minute.

Markers
-------

A reST comment just before a block says how to run it; Sphinx shows nothing
of it. Unmarked console blocks run as ``run``. One not followed by a block is
a step of its own.

``.. tutorial: run [exit=N] [retry=SECONDS]``
    Each command must exit with status N (default 0). With ``retry``, a
    command whose output does not match yet runs again, for up to SECONDS:
    for output the docs show "a moment later" (work a worker finishes after
    the response).
``.. tutorial: start NAME [NAME ...]``
    Each command of the block is a server the reader leaves running in a
    terminal of its own, called NAME here. It runs in the background; what
    it prints must begin with the documented lines. It is ready once they
    have appeared and every documented port (8000, 8001, 6379) its command
    or output names accepts connections.
``.. tutorial: stop NAME [NAME ...]``
    Ctrl-C in the server's terminal: SIGINT to its process group. It must
    exit within 15 seconds. A ``text`` block right after the marker is what
    the server prints from the signal on. Every server must be stopped
    by the end of the part that started it, before the next part starts its
    own (the reader's ports are the same).
``.. tutorial: skip REASON``
    The block does not run; REASON says why (it needs Docker, a browser or
    root, or would install into the virtualenv the copy shares).
``.. tutorial: wait SECONDS REASON``
    Time passes, where the docs ask the reader to wait (for an expiry).

Normalisation
-------------

Before the comparison, the output a command printed is read as a terminal
shows it: carriage returns and the cursor movements of websockets'
interactive client are applied, and a line holding only its ``>`` prompt is
dropped. Then, in that output only:

* **Paths**: the copy's root reads ``/home/you/event-driven-django`` and the
  commands' ``HOME`` (an empty folder) ``/home/you``.
* **Ports**: the commands use free ports, not the docs' 8000 (HTTP), 8001
  (WebSockets) and 6379 (Redis, a private ``redis-server``): a port number
  after ``:`` or a space in a command is swapped for the test's, a bare
  ``manage.py runserver`` gets ``127.0.0.1:<http> --ws-port <ws>``, gunicorn
  gets ``GUNICORN_BIND=0.0.0.0:<http>``; the output shows the docs' numbers
  again.

And in both the output and the docs: dates and times, process ids, version
numbers (``x.y.z``), durations (``0.40s``), ``Content-Length`` values (the
pages hold the ports, whose numbers have other lengths), the random parts of
channel names, spaces and ``=`` that pad a line to the terminal's width, and
trailing spaces and blank lines, are made equal. A line ``...`` in the docs
matches any number of lines.

The commands get a small environment of their own, nothing of the test's
(``DJANGO_SETTINGS_MODULE``, say): ``PATH``, ``HOME``, ``LANG=C.UTF-8``,
``COLUMNS=80``, ``PYTHONUNBUFFERED=1`` (so that standard output and error
interleave as on a terminal) and ``GUNICORN_BIND``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest

from channels_core.testing import RedisServer, free_port, wait_past, wait_until

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
TUTORIAL = DOCS / "tutorial"

#: What the docs' output shows for the copy's root and for the commands' home folder.
DOCUMENTED_ROOT = "/home/you/event-driven-django"
DOCUMENTED_HOME = "/home/you"
#: The docs' ports: HTTP, WebSockets, Redis.
HTTP, WS, REDIS = 8000, 8001, 6379

#: Seconds a command may run, a server may take to start, and to stop after Ctrl-C.
COMMAND_TIMEOUT = 60.0
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0

MARKER = re.compile(r"^(?P<indent> *)\.\. tutorial: (?P<verb>\S+) *(?P<args>.*)$")
CODE_BLOCK = re.compile(r"^(?P<indent> *)\.\. code-block:: (?P<language>\S+) *$")
VERBS = {"run", "start", "stop", "skip", "wait"}


# -- Reading the tutorial -------------------------------------------------------------------------------------------


@dataclass
class Command:
    """One ``$`` line of a console block and the output the docs show for it."""

    text: str
    expected: list[str]


@dataclass
class Block:
    """A code block: where it is, its language and its lines."""

    where: str
    language: str
    lines: list[str]

    def commands(self) -> list[Command]:
        """The block's commands, each with its documented output."""
        commands: list[Command] = []
        continued = False
        for line in self.lines:
            if continued:
                commands[-1].text += "\n" + line
            elif line.startswith("$ "):
                commands.append(Command(line[2:], []))
            elif commands:
                commands[-1].expected.append(line)
            elif line.strip():
                raise ValueError(f"{self.where}: output before the first command: {line!r}")
            continued = bool(commands) and not commands[-1].expected and line.endswith("\\")
        return commands


@dataclass
class Step:
    """What the test does at one place of the tutorial: a marker, its block, or an unmarked console block."""

    where: str
    verb: str
    args: list[str]
    block: Block | None = None

    def option(self, name: str, default: float) -> float:
        """The value of ``name=VALUE`` among the marker's arguments."""
        for arg in self.args:
            key, _, value = arg.partition("=")
            if key == name:
                return float(value)
        return default


def parts() -> list[Path]:
    """The tutorial's pages, in the order of its toctree."""
    index = (TUTORIAL / "index.rst").read_text()
    toctree = re.search(r"^\.\. toctree::\n((?: {3}.*\n|\n)*)", index, re.M)
    assert toctree, "docs/tutorial/index.rst has no toctree"
    names = [line.strip() for line in toctree[1].splitlines() if line.strip() and not line.strip().startswith(":")]
    return [TUTORIAL / f"{name}.rst" for name in names]


def read_block(lines: list[str], start: int, indent: int) -> tuple[list[str], int]:
    """The content of the code block whose directive is ``lines[start]``, dedented, and the index after it."""
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent):
        end += 1
    body = lines[start + 1 : end]
    # Options (":caption: ...") come first, then a blank line, then the content.
    while body and body[0].strip().startswith(":"):
        body = body[1:]
    content = [line for line in body if line.strip()]
    margin = min((len(line) - len(line.lstrip()) for line in content), default=0)
    text = [line[margin:] for line in body]
    while text and not text[0].strip():
        text.pop(0)
    while text and not text[-1].strip():
        text.pop()
    return text, end


def steps_of(path: Path) -> list[Step]:
    """The steps of one page: its markers, with the block each applies to, and its unmarked console blocks."""
    lines = path.read_text().splitlines()
    steps: list[Step] = []
    pending: Step | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        where = f"{path.relative_to(DOCS)}:{index + 1}"
        marker, block = MARKER.match(line), CODE_BLOCK.match(line)
        if marker:
            if pending:
                steps.append(pending)
            pending = Step(where, marker["verb"], marker["args"].split())
            if pending.verb == "wait":
                steps.append(pending)
                pending = None
        elif block:
            text, index = read_block(lines, index, len(block["indent"]))
            code = Block(where, block["language"], text)
            if pending and pending.verb == "stop" and code.language == "console":
                steps.append(pending)  # what follows a stop is a command of its own, not the server's last words
                pending = None
            if pending:
                pending.block = code
                steps.append(pending)
                pending = None
            elif code.language == "console":
                steps.append(Step(where, "run", [], code))
            continue
        elif line.strip() and pending:
            steps.append(pending)
            pending = None
        index += 1
    if pending:
        steps.append(pending)
    return steps


def tutorial_steps() -> list[Step]:
    return [step for path in parts() for step in steps_of(path)]


# -- Reading what a command printed ---------------------------------------------------------------------------------

TERMINAL_CONTROL = re.compile(r"(\x1b[78]|\x1b\[\d*[A-Za-z]|\r|\n)")


def render(raw: str) -> list[str]:
    """The lines a terminal shows after printing ``raw`` (carriage returns and the cursor movements applied)."""
    screen = [""]
    row = col = 0
    saved = (0, 0)
    for piece in TERMINAL_CONTROL.split(raw):
        if not piece:
            continue
        if piece == "\n":  # a terminal's line discipline turns a line feed into a new line
            row, col = row + 1, 0
        elif piece == "\r":
            col = 0
        elif piece == "\x1b7":
            saved = (row, col)
        elif piece == "\x1b8":
            row, col = saved
        elif piece.startswith("\x1b["):
            count, action = int(piece[2:-1] or 1), piece[-1]
            if action == "A":
                row = max(0, row - count)
            elif action == "B":
                row += count
            elif action == "L":
                screen[row:row] = [""] * count
            elif action == "K":
                screen[row] = screen[row][:col]
        else:
            line = screen[row].ljust(col)
            screen[row] = line[:col] + piece + line[col + len(piece) :]
            col += len(piece)
        screen.extend([""] * (row + 1 - len(screen)))
    return [line for line in screen if line.strip() != ">"]  # the websockets client's prompt, waiting for input


#: What differs from one run to the next, and how both the docs and the output read it.
VARYING = [
    (re.compile(r"\b[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT"), "<date>"),  # HTTP
    (re.compile(r"\b[A-Z][a-z]+ \d{1,2}, \d{4} - \d{2}:\d{2}:\d{2}"), "<date>"),  # runserver's start
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?: ?[+-]\d{2}:?\d{2})?"), "<date>"),
    (re.compile(r"\[\d{2}/[A-Z][a-z]{2}/\d{4} \d{2}:\d{2}:\d{2}\]"), "[<date>]"),  # runserver's requests
    (re.compile(r"(?<=\[)\d+(?=\])|(?<=pid: )\d+|(?<=\()\d+(?=\)$)"), "<pid>"),
    (re.compile(r"(?<![\w.])\d+\.\d+\.\d+(?![\w.])"), "<version>"),
    (re.compile(r"\b\d+\.\d+s\b"), "<duration>"),
    (re.compile(r"(?i)(?<=content-length: )\d+"), "<length>"),
    # Channel.new_name()'s 16 random letters and digits, e.g. !django.websocket.send.KqtJjnT3HlUwkzaz
    (re.compile(r"(?<=\.)(?=[a-z]*[A-Z0-9])[A-Za-z0-9]{16}(?!\w)"), "<random>"),
    (re.compile(r"(?<=\S) {2,}"), " "),  # padding to the terminal's width
    (re.compile(r"={4,}"), "===="),
]


def normalise(lines: list[str]) -> list[str]:
    """``lines`` with what varies between runs made equal, trailing spaces and blank lines dropped."""
    result = []
    for line in lines:
        for pattern, replacement in VARYING:
            line = pattern.sub(replacement, line)
        result.append(line.rstrip())
    while result and not result[-1]:
        result.pop()
    return result


def matches(expected: list[str], actual: list[str], prefix: bool = False) -> bool:
    """Whether ``actual`` is ``expected`` (or, with ``prefix``, begins with it); a line ``...`` stands for any lines."""

    @functools.cache
    def match(i: int, j: int) -> bool:
        if i == len(expected):
            return prefix or j == len(actual)
        if expected[i].strip() == "...":
            return any(match(i + 1, k) for k in range(j, len(actual) + 1))
        return j < len(actual) and expected[i] == actual[j] and match(i + 1, j + 1)

    return match(0, 0)


def difference(where: str, command: str, expected: list[str], actual: list[str]) -> str:
    shown = "\n".join(f"    {line}" for line in actual) or "    (nothing)"
    wanted = "\n".join(f"    {line}" for line in expected) or "    (nothing)"
    return f"{where}: the output of `{command}` drifted from the docs.\n  docs (normalised):\n{wanted}\n  got:\n{shown}"


# -- Running it -----------------------------------------------------------------------------------------------------


class Abort(Exception):
    """A failure after which the rest of the tutorial cannot run (a command failed, a server did not start)."""


@dataclass
class Process:
    """A command or server of the session: its process group, its output file, and where the docs start it."""

    where: str
    command: str
    popen: subprocess.Popen[bytes]
    log: Path
    log_file: IO[bytes]
    ports: list[int] = field(default_factory=list)

    def output(self, start: int = 0) -> str:
        return self.log.read_bytes()[start:].decode(errors="replace")

    def close_input(self) -> None:
        if self.popen.stdin and not self.popen.stdin.closed:
            self.popen.stdin.close()

    def signal(self, signum: int) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signum)

    def end(self) -> None:
        """Kill whatever is left of the process group, reap it, close its files."""
        self.close_input()
        self.signal(signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)  # what a server left behind (an autoreloader's child)
        self.popen.wait(10)
        self.log_file.close()


class Session:
    """One reader's terminals on one fresh copy of the project."""

    def __init__(self, root: Path, home: Path, logs: Path, redis_port: int) -> None:
        self.root, self.home, self.logs = root, home, logs
        self.ports = {HTTP: free_port(), WS: free_port(), REDIS: redis_port}
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "COLUMNS": "80",
            "PYTHONUNBUFFERED": "1",
            "GUNICORN_BIND": f"0.0.0.0:{self.ports[HTTP]}",
        }
        self.state = logs / "shell-state.sh"
        baseline = subprocess.run(
            ["bash", "-c", "compgen -v"], env=self.env, capture_output=True, text=True, check=True
        )
        self.baseline = " ".join([*baseline.stdout.split(), "__name", "__status"])
        self.servers: dict[str, Process] = {}
        self.problems: list[str] = []
        self.skipped: list[str] = []
        self.count = 0

    # What the reader types, as the test runs it

    def command_line(self, command: str) -> str:
        """``command`` on the test's ports."""
        if re.search(r"manage\.py runserver$", command):
            command += f" 127.0.0.1:{HTTP} --ws-port {WS}"
        return re.sub(r"(?<=[:\s])(8000|8001|6379)\b", lambda found: str(self.ports[int(found[1])]), command)

    def script(self, command: str, keep_state: bool) -> str:
        """The bash script that runs ``command`` in the session: its variables before, and after if ``keep_state``."""
        state = shlex.quote(str(self.state))
        lines = [f"if [ -f {state} ]; then . {state}; fi", self.command_line(command)]
        if keep_state:
            lines += [
                "__status=$?",
                "for __name in $(compgen -v); do",
                f"  case ' {self.baseline} ' in *\" $__name \"*) continue;; esac",
                "  case $__name in BASH*|_*|PIPESTATUS|FUNCNAME|GROUPS|DIRSTACK) continue;; esac",
                '  declare -p "$__name"',
                f"done > {state}",
                "exit $__status",
            ]
        return "\n".join(lines)

    def spawn(self, where: str, command: str, keep_state: bool) -> Process:
        self.count += 1
        log = self.logs / f"{self.count:03d}.log"
        log_file = log.open("wb")
        popen = subprocess.Popen(
            ["bash", "-c", self.script(command, keep_state)],
            cwd=self.root,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group of its own, as a terminal's job: Ctrl-C reaches all of it
            preexec_fn=heed_ctrl_c,
        )
        return Process(where, command, popen, log, log_file)

    def screen(self, text: str) -> list[str]:
        """What a command printed, as the docs would show it."""
        for actual, documented in ((str(self.root), DOCUMENTED_ROOT), (str(self.home), DOCUMENTED_HOME)):
            text = text.replace(actual, documented)
        for documented_port, port in self.ports.items():
            text = re.sub(rf"(?<!\d){port}(?!\d)", str(documented_port), text)
        return normalise(render(text))

    # The steps

    def follow(self, steps: list[Step]) -> None:
        """Run every step, collecting drifts in ``problems``; stop at the first failure that breaks the rest."""
        completed = False
        try:
            for step in steps:
                getattr(self, f"do_{step.verb}")(step)
            completed = True
        except Abort as abort:
            self.problems.append(str(abort))
        finally:
            for name in list(self.servers):
                if completed:
                    where = self.servers[name].where
                    self.problems.append(f"{where}: {name} is never stopped: tell the reader when to stop it")
                self.stop(name)

    def do_skip(self, step: Step) -> None:
        assert step.block, f"{step.where}: a skip marker without its block"
        self.skipped.append(f"{step.block.where}: {' '.join(step.args)}")

    def do_wait(self, step: Step) -> None:
        wait_past(float(step.args[0]))

    def do_run(self, step: Step) -> None:
        assert step.block, f"{step.where}: a run marker without its block"
        status, retry = int(step.option("exit", 0)), step.option("retry", 0)
        for command in step.block.commands():
            deadline = time.monotonic() + retry
            while True:
                actual = self.run(step.block.where, command, status)
                if matches(normalise(command.expected), actual) or time.monotonic() > deadline:
                    break
                wait_past(0.5)
            if not matches(normalise(command.expected), actual):
                self.problems.append(difference(step.block.where, command.text, normalise(command.expected), actual))

    def run(self, where: str, command: Command, status: int) -> list[str]:
        """Run a foreground command to its end; its standard input closes once all but its last line are out."""
        process = self.spawn(where, command.text, keep_state=True)
        all_but_last = normalise(command.expected)[:-1]

        def ended() -> bool:
            if matches(all_but_last, self.screen(process.output()), prefix=True):
                process.close_input()
            return process.popen.poll() is not None

        try:
            wait_until(ended, COMMAND_TIMEOUT, what=f"`{command.text}` to end")
        except AssertionError:
            process.end()
            raise Abort(
                f"{where}: `{command.text}` did not end within {COMMAND_TIMEOUT:.0f} s; it printed:\n"
                + process.output()
            ) from None
        process.end()
        actual = self.screen(process.output())
        if process.popen.returncode != status:
            raise Abort(
                f"{where}: `{command.text}` exited with status {process.popen.returncode}, not {status}; it printed:\n"
                + "\n".join(actual)
            )
        return actual

    def do_start(self, step: Step) -> None:
        assert step.block, f"{step.where}: a start marker without its block"
        commands = step.block.commands()
        assert len(commands) == len(step.args), f"{step.where}: name each of the block's {len(commands)} server(s)"
        for name, command in zip(step.args, commands, strict=True):
            self.start(name, step.block.where, command)

    def start(self, name: str, where: str, command: Command) -> None:
        if name in self.servers:
            raise Abort(f"{where}: {name} starts again, but the one from {self.servers[name].where} still runs")
        documented = [
            int(port) for port in re.findall(r"(?<=[:\s])(8000|8001|6379)\b", command.text + " ".join(command.expected))
        ]
        if re.search(r"manage\.py runserver$", command.text):
            documented += [HTTP, WS]
        server = self.servers[name] = self.spawn(where, command.text, keep_state=False)
        server.ports = documented
        expected = normalise(command.expected)

        def printed() -> bool:
            if server.popen.poll() is not None:
                raise Abort(
                    f"{where}: {name} (`{command.text}`) exited with status {server.popen.returncode}:\n"
                    + server.output()
                )
            return matches(expected, self.screen(server.output()), prefix=True)

        try:
            wait_until(printed, START_TIMEOUT, what=f"{name} to start")
        except AssertionError:
            actual = self.screen(server.output())[: len(expected) + 3]
            self.problems.append(difference(where, command.text, expected, actual))
        for port in set(documented) - {REDIS}:
            try:
                wait_until(lambda port=port: accepts(self.ports[port]), START_TIMEOUT, what=f"port {port}")
            except AssertionError:
                raise Abort(
                    f"{where}: {name} does not listen on port {port} (the test's {self.ports[port]})"
                    f" after {START_TIMEOUT:.0f} s; it printed:\n{server.output()}"
                ) from None

    def do_stop(self, step: Step) -> None:
        for name in step.args:
            if name not in self.servers:
                raise Abort(f"{step.where}: there is no server {name} running to stop")
            returncode, printed = self.stop(name)
            if returncode is None:
                self.problems.append(f"{step.where}: {name} did not stop within {STOP_TIMEOUT:.0f} s of Ctrl-C")
            if step.block:
                expected, actual = normalise(step.block.lines), self.screen(printed)
                if not matches(expected, actual):
                    self.problems.append(difference(step.block.where, f"Ctrl-C to {name}", expected, actual))

    def stop(self, name: str) -> tuple[int | None, str]:
        """Ctrl-C to the server ``name``: its exit status (``None`` if it had to be killed), what it printed since."""
        server = self.servers.pop(name)
        start = server.log.stat().st_size
        server.signal(signal.SIGINT)
        try:
            returncode: int | None = server.popen.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            returncode = None
        server.end()
        return returncode, server.output(start)


def heed_ctrl_c() -> None:
    """Let Ctrl-C and Ctrl-\\ reach the command, as in a terminal, even if the test runs with them ignored.

    A program started in the background of a shell (``make test &``, some CI
    runners) inherits SIGINT and SIGQUIT ignored, and so would every command,
    with no way for bash to undo it: ``runserver`` would not stop on Ctrl-C.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def fresh_copy(destination: Path) -> Path:
    """The checkout's files that git tracks or would track, copied to ``destination``, with a link to its .venv."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (destination / ".venv").symlink_to(ROOT / ".venv")
    return destination


def needed_programs() -> Iterator[str]:
    for program in ("bash", "git", "curl", "redis-server"):
        if shutil.which(program) is None:
            yield program


# -- The tests ------------------------------------------------------------------------------------------------------


def test_every_console_block_of_the_tutorial_runs_or_says_why_not() -> None:
    steps = tutorial_steps()
    for step in steps:
        assert step.verb in VERBS, f"{step.where}: unknown marker {step.verb!r}; use one of {sorted(VERBS)}"
        if step.verb in {"run", "start", "skip"}:
            assert step.block and step.block.language == "console", f"{step.where}: {step.verb} needs a console block"
            assert step.block.commands(), f"{step.block.where}: a console block without a `$` command"
        if step.verb == "skip":
            assert step.args, f"{step.where}: say why the block is skipped"
        if step.verb == "wait":
            assert len(step.args) > 1 and float(step.args[0]) > 0, f"{step.where}: wait SECONDS REASON"
    for part in parts():
        ran = [
            step for step in steps if step.where.startswith(f"tutorial/{part.name}:") and step.verb in {"run", "start"}
        ]
        assert ran, f"{part.name} has no console block the test runs"


def test_the_servers_of_each_part_are_stopped_before_the_next_part() -> None:
    running: dict[str, str] = {}
    page = ""
    for step in tutorial_steps():
        if step.where.split(":")[0] != page:
            assert not running, f"{page} leaves {sorted(running)} running (started at {sorted(running.values())})"
            page = step.where.split(":")[0]
        for name in step.args if step.verb in {"start", "stop"} else []:
            if step.verb == "start":
                assert name not in running, f"{step.where}: {name} starts again while the one of {running[name]} runs"
                running[name] = step.where
            else:
                assert running.pop(name, None), f"{step.where}: stops {name}, which is not running"
    assert not running, f"the tutorial ends with {sorted(running)} running"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_tutorial_runs_as_written(tmp_path: Path) -> None:
    missing = list(needed_programs())
    if missing:
        message = f"the tutorial's commands need {', '.join(missing)} (`make test` installs them)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    root = fresh_copy(tmp_path / "event-driven-django")
    home, logs = tmp_path / "home", tmp_path / "logs"
    home.mkdir()
    logs.mkdir()
    redis = RedisServer().start()
    try:
        session = Session(root, home, logs, redis.port)
        session.follow(tutorial_steps())
    finally:
        redis.stop()
    if session.problems:
        skipped = "".join(f"\n  {skip}" for skip in session.skipped)
        pytest.fail("\n\n".join([*session.problems, f"(blocks not run:{skipped})"]), pytrace=False)
