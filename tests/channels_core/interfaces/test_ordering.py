"""Per-socket ordering (DESIGN.md §9; issue 14, acceptance 1), end to end with real processes.

A client connects to ``/ordered/`` and at once sends 300 numbered frames. The
consumers (``tests/testapp/consumers.py``) take 0.3 s to connect and 0-10 ms
per receive, and append what they do to a record file. However many worker
threads and processes there are, the socket's messages must be handled one at
a time in order: the replies come back in order, and the records read
connect start, connect end, each receive start and end in turn, disconnect.

Each layout is one site, started once for this module:

* ``redis``: a private redis-server, ``runwsserver`` and two ``runworker --threads 8``;
* ``database-sqlite``: the same on the database backend, on one SQLite file in the tmp dir;
* ``database-postgres``: the same on a fresh PostgreSQL database, dropped at the end;
* ``runserver``: ``runserver`` alone (in-memory backend, worker threads in-process).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.conf import settings
from psycopg import sql
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from channels_core.testing import Project, Runserver, Stack, wait_until
from tests.conftest import require_postgres

pytestmark = pytest.mark.slow

FRAMES = 300
WORKERS = 2
WORKER_THREADS = 8
#: Deadlines, not thresholds: generous, so only a stalled socket reaches them.
REPLIES_DEADLINE = 120.0
RECORDS_DEADLINE = 30.0

LAYOUTS = ["redis", "database-sqlite", "database-postgres", "runserver"]


class Records:
    """The record file of the ``/ordered/`` consumers: lines of ``<send_channel> <event>``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.touch()

    def send_channel_of(self, client: str) -> str | None:
        """The send_channel of the socket whose connect carried ``client=<client>``, once its connect started."""
        for line in self.path.read_text().splitlines():
            send_channel, event = line.split(" ", 1)
            if event == f"connect start client={client}":
                return send_channel
        return None

    def events(self, send_channel: str) -> list[str]:
        """What the consumers recorded for one socket, in the order they recorded it."""
        prefix = send_channel + " "
        return [line.removeprefix(prefix) for line in self.path.read_text().splitlines() if line.startswith(prefix)]


@pytest.fixture(scope="module")
def postgres_database_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this run, named like the suite's ``test_edd_<pid>``; dropped after the module."""
    require_postgres()
    name = f"test_edd_ordering_{os.getpid()}"
    with psycopg.connect(settings.TEST_POSTGRES_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield urlunsplit(urlsplit(settings.TEST_POSTGRES_URL)._replace(path=f"/{name}"))
    with psycopg.connect(settings.TEST_POSTGRES_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module", params=LAYOUTS)
def ordered_site(
    request: pytest.FixtureRequest, channels_project: Project, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack | Runserver, Records]]:
    """One site of the layout, started; its processes append to the returned records."""
    layout: str = request.param
    tmp = tmp_path_factory.mktemp(f"ordering-{layout}")
    records = Records(tmp / "records.txt")
    env = {"TEST_RECORD_PATH": str(records.path)}
    if layout == "runserver":
        with Runserver(channels_project, tmp, env) as server:
            yield server.start(), records
        return
    if layout.startswith("database"):
        env["CHANNELS_BACKEND"] = "database"  # the stack's Redis stays idle
    if layout == "database-postgres":
        env["DATABASE_URL"] = request.getfixturevalue("postgres_database_url")
    with Stack(channels_project, tmp, env) as stack:  # SQLite in tmp unless DATABASE_URL says otherwise
        stack.start_ws()
        for number in range(1, WORKERS + 1):
            stack.start_worker(f"worker-{number}", threads=WORKER_THREADS)
        yield stack, records


def receive_replies(client: ClientConnection, count: int) -> list[str]:
    """The next ``count`` frames from ``client``, waiting at most :data:`REPLIES_DEADLINE` for them all."""
    deadline = time.monotonic() + REPLIES_DEADLINE
    replies: list[str] = []
    while len(replies) < count:
        try:
            replies.append(str(client.recv(timeout=max(deadline - time.monotonic(), 0))))
        except TimeoutError:
            why = f"none more within {REPLIES_DEADLINE} s"
        except ConnectionClosed as error:
            why = f"then the socket closed: {error}"
        else:
            continue
        raise AssertionError(f"{len(replies)} of {count} replies came ({why}); the last ones: {replies[-5:]}")
    return replies


def test_a_sockets_messages_are_handled_one_at_a_time_in_order(ordered_site: tuple[Stack | Runserver, Records]) -> None:
    site, records = ordered_site
    client_id = uuid.uuid4().hex
    numbers = [str(n) for n in range(1, FRAMES + 1)]
    with connect(site.ws_url(f"/ordered/?client={client_id}"), open_timeout=30) as client:
        for number in numbers:  # all at once: the first frames arrive while the connect consumer still works
            client.send(number)
        assert receive_replies(client, FRAMES) == numbers

    send_channel = wait_until(lambda: records.send_channel_of(client_id), RECORDS_DEADLINE, what="the connect record")
    wait_until(lambda: "disconnect" in records.events(send_channel), RECORDS_DEADLINE, what="the disconnect record")
    one_at_a_time = [event for number in numbers for event in (f"receive {number}", f"receive-done {number}")]
    assert records.events(send_channel) == [
        f"connect start client={client_id}",
        "connect end",
        *one_at_a_time,
        "disconnect",
    ]
