"""The docs' Python sessions run against a real site with every warning an error (issue 16, acceptance 5).

The suite runs with warnings as errors (``filterwarnings = ["error"]``); this
extends that to the Python the docs ask readers to type. All other Python in
the docs is ``literalinclude``d from files the suite runs; the ``>>>``
sessions (``.. code-block:: pycon``) are the only code written in the pages
themselves, so this test runs each of them:

* in a process of its own, as a reader's ``manage.py shell`` or ``python``
  would be, with the site's settings, and with ``warnings.simplefilter("error")``:
  a ``DeprecationWarning`` from a call the docs show (``websockets``'
  ``connect()`` outside ``with``, say) fails the test, at its line;
* against a ``runserver`` site started for the test: the docs' addresses
  (``127.0.0.1:8000`` and ``:8001``) become the site's ports, and ``loaddemo``
  has made the demo content the sessions use;
* statement by statement: a statement whose documented output is a
  ``Traceback`` must raise that exception; any other must not raise.

Outputs are not compared (ids, times and socket names differ from run to
run): following the tutorial verbatim is another test's job. The blocks of one
page form one session, as a reader types them in one shell; a block that
starts with its own ``$`` command line (``$ CHANNELS_BACKEND=database
.venv/bin/python manage.py shell``) starts a new session, with that
command's variables.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from channels_core.testing import Runserver
from tests.helpers import ROOT

DOCS = ROOT / "docs"

#: Where the docs' sessions reach the site: runserver's HTTP and WebSocket ports, as in the tutorial.
DOCS_HTTP, DOCS_WS = "127.0.0.1:8000", "127.0.0.1:8001"

#: Runs one session's statements (JSON on stdin) the way Python's REPL would; writes outcomes to argv[1].
RUNNER = r"""
import contextlib, io, json, sys, traceback, warnings

import django

django.setup()
warnings.simplefilter("error")  # as the suite's filterwarnings = ["error"]
namespace = {"__name__": "__main__", "__builtins__": __builtins__}
outcomes = []
for statement in json.load(sys.stdin):
    output = io.StringIO()
    try:
        with contextlib.redirect_stdout(output):
            exec(compile(statement["source"], statement["where"], "single"), namespace)
        raised = None
    except Exception as error:
        raised = [type(error).__name__, "".join(traceback.format_exception(error))]
    outcomes.append({"where": statement["where"], "raised": raised, "output": output.getvalue()})
with open(sys.argv[1], "w") as file:
    json.dump(outcomes, file)
"""


@dataclasses.dataclass
class Statement:
    """One ``>>>`` statement of the docs, and the exception its documented output shows (if any)."""

    where: str
    source: str
    raises: str | None = None


@dataclasses.dataclass
class Session:
    """The statements a reader types in one shell, and the variables its command line sets."""

    where: str
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    statements: list[Statement] = dataclasses.field(default_factory=list)


def code_blocks(text: str, language: str) -> Iterator[tuple[int, list[tuple[int, str]]]]:
    """``(line number, [(line number, dedented line), ...])`` of every ``.. code-block:: LANGUAGE`` in ``text``.

    The body's lines leave out the directive's options and blank lines at either end.
    """
    lines = text.splitlines()
    for index, line in enumerate(lines):
        found = re.fullmatch(rf"(\s*)\.\. code-block:: {language}\s*", line)
        if found is None:
            continue
        body: list[tuple[int, str]] = []
        for number, following in enumerate(lines[index + 1 :], start=index + 2):
            if following.strip() and len(following) - len(following.lstrip()) <= len(found[1]):
                break
            if body or (following.strip() and not following.strip().startswith(":")):
                body.append((number, following))
        while body and not body[-1][1].strip():
            body.pop()
        margin = min((len(line) - len(line.lstrip()) for _, line in body if line.strip()), default=0)
        yield index + 1, [(number, line[margin:]) for number, line in body]


def sessions_of(name: str, text: str) -> list[Session]:
    """The ``pycon`` blocks of the page ``name`` (whose source is ``text``) as sessions (see the module's docstring)."""
    sessions: list[Session] = []
    for first_line, lines in code_blocks(text, "pycon"):
        if not sessions or (lines and lines[0][1].startswith("$ ")):
            sessions.append(Session(f"{name}:{first_line}"))
        session = sessions[-1]
        statement: Statement | None = None
        output: list[str] = []
        for number, line in lines:
            if line.startswith("$ "):
                session.env.update(variables_of(line[2:]))
            elif line.startswith(">>>"):
                statement = Statement(f"{name}:{number}", line[4:])
                session.statements.append(statement)
                output = []
            elif statement is not None and (line == "..." or line.startswith("... ")):
                statement.source += "\n" + line[4:]
            elif statement is not None:
                output.append(line)
                if output[0] == "Traceback (most recent call last):" and re.match(r"[\w.]+(:|$)", line):
                    statement.raises = re.split(r"[:\s]", line)[0].rsplit(".", 1)[-1]
    for session in sessions:  # a bare ">>>" shows a prompt, not a statement
        session.statements = [statement for statement in session.statements if statement.source.strip()]
    return [session for session in sessions if session.statements]


def variables_of(command: str) -> dict[str, str]:
    """The ``NAME=value`` words a command line starts with."""
    variables = {}
    for word in command.split():
        name, equals, value = word.partition("=")
        if not (equals and re.fullmatch(r"[A-Za-z_]\w*", name)):
            break
        variables[name] = value
    return variables


def pages() -> list[Path]:
    return sorted(page for page in DOCS.rglob("*.rst") if "_build" not in page.parts)


def all_sessions() -> list[Session]:
    return [session for page in pages() for session in sessions_of(page.relative_to(ROOT).as_posix(), page.read_text())]


SESSIONS = all_sessions()


def test_the_docs_have_python_only_in_sessions_and_included_files() -> None:
    """Inline Python other than ``>>>`` sessions would be tested by nothing: include it from a real file."""
    assert SESSIONS, "no pycon block found: the parser no longer matches the docs"
    inline = [
        f"{page.relative_to(ROOT)}:{number}"
        for page in pages()
        for language in ("python", "python3", "py")
        for number, _ in code_blocks(page.read_text(), language)
    ]
    assert inline == [], "Python written in the page itself: literalinclude it from a tested file instead"


def test_a_session_is_read_statement_by_statement() -> None:
    page_text = """
        .. code-block:: pycon

           $ CHANNELS_BACKEND=database .venv/bin/python manage.py shell

           >>> for n in range(2):
           ...     print(n)
           ...
           0
           1
           >>> Channel("a b")
           Traceback (most recent call last):
             ...
           channels_core.exceptions.InvalidChannelName: channel name 'a b' contains ' '
    """
    (session,) = sessions_of("docs/example.rst", textwrap.dedent(page_text))
    assert session.env == {"CHANNELS_BACKEND": "database"}
    assert [(s.where, s.source, s.raises) for s in session.statements] == [
        ("docs/example.rst:6", "for n in range(2):\n    print(n)\n", None),
        ("docs/example.rst:11", 'Channel("a b")', "InvalidChannelName"),
    ]


@pytest.fixture(scope="module")
def site(channels_runserver: Runserver) -> Runserver:
    """``runserver`` with the demo content the sessions use (the keynote, the lobby)."""
    channels_runserver.run_manage("loaddemo")
    return channels_runserver


def on_the_site(source: str, site: Runserver) -> str:
    return source.replace(DOCS_HTTP, f"127.0.0.1:{site.http_port}").replace(DOCS_WS, f"127.0.0.1:{site.ws_port}")


@pytest.mark.slow
@pytest.mark.parametrize("session", SESSIONS, ids=[session.where for session in SESSIONS])
def test_a_docs_session_runs_with_warnings_as_errors(session: Session, site: Runserver, tmp_path: Path) -> None:
    statements = [
        {"where": s.where, "source": on_the_site(s.source, site) + "\n", "raises": s.raises} for s in session.statements
    ]
    outcomes_file = tmp_path / "outcomes.json"
    result = subprocess.run(
        [site.project.python, "-c", RUNNER, str(outcomes_file)],
        input=json.dumps(statements),
        cwd=site.project.directory,
        env={**os.environ, **site.project.process_env({**site.env, **session.env})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Exception ignored" not in result.stderr, result.stderr  # a warning raised where it cannot propagate
    outcomes = json.loads(outcomes_file.read_text())
    wrong = [
        f"{outcome['where']}: expected {statement['raises'] or 'no exception'}, got:\n"
        + (outcome["raised"][1] if outcome["raised"] else "no exception")
        for statement, outcome in zip(statements, outcomes, strict=True)
        if (outcome["raised"] or [None])[0] != statement["raises"]
    ]
    assert not wrong, "\n".join(wrong)
