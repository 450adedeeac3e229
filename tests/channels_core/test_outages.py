"""A database outage under traffic: the site on a private PostgreSQL that is stopped and started again.

The private server holds the site's tables and its channels (the database
backend, ``CHANNELS_BACKEND=database``) for one ``runworker``, one
``runwsserver`` and gunicorn, all real processes. While it is down the site
answers 503 and nothing dies; once it is back, everything carries on without
a restart, and each process has said once that the backend was down and once
that it is back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Iterator

import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from channels_core.testing import ManagedProcess, PostgresServer, wait_until

from .backends.test_database import new_postgres_server
from .interfaces.stack import Stack

pytestmark = pytest.mark.slow

#: A page no view of which touches the database: only the channel backend does.
PAGE = "/tests/download/?size=10"
#: Requests sent while the server is down (each is answered at once: the send fails).
REQUESTS_DURING_THE_OUTAGE = 20
#: A line of the outage as the processes log it: BackendUnavailable's message names the database.
OUTAGE_LINE = re.compile(r" (ERROR|WARNING) .*database 'default' is unavailable")


def get(stack: Stack) -> int:
    return requests.get(stack.url(PAGE), timeout=30).status_code


def echoes(stack: Stack, count: int = 1) -> bool:
    """A new socket to /echo/ gets each of ``count`` frames back, in order."""
    try:
        with connect(stack.ws_url("/echo/"), open_timeout=5) as socket:
            return all(_echoed(socket, str(n)) for n in range(count))
    except (OSError, TimeoutError, ConnectionClosed):
        return False


def _echoed(socket: ClientConnection, text: str) -> bool:
    socket.send(text)
    return socket.recv(timeout=10) == text


@dataclasses.dataclass
class Outage:
    """What the site did through one outage."""

    processes: dict[str, ManagedProcess]
    statuses_while_down: list[int]
    echoed_while_down: bool
    statuses_after: list[int]

    def outage_lines(self, name: str) -> list[str]:
        """The lines of process ``name`` at WARNING or above that speak of the outage."""
        return [line for line in self.processes[name].output().splitlines() if OUTAGE_LINE.search(line)]


@pytest.fixture(scope="module")
def outage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outage]:
    """The site on a private PostgreSQL, through one outage of it under traffic; the processes stay up."""
    tmp = tmp_path_factory.mktemp("outage")
    postgres = new_postgres_server(tmp).start()
    try:
        with Stack(tmp, DATABASE_URL=postgres.url, CHANNELS_BACKEND="database") as stack:
            yield _ride_out_an_outage(stack, postgres)
    finally:
        postgres.remove()


def _ride_out_an_outage(stack: Stack, postgres: PostgresServer) -> Outage:
    processes = {"worker": stack.start_worker(threads=4), "ws": stack.start_ws(), "gunicorn": stack.start_gunicorn()}
    assert get(stack) == 200
    assert echoes(stack, 5)
    with connect(stack.ws_url("/echo/"), open_timeout=5) as open_socket:
        assert _echoed(open_socket, "before")
        postgres.stop()
        statuses_while_down = [get(stack) for _ in range(REQUESTS_DURING_THE_OUTAGE)]
        with contextlib.suppress(ConnectionClosed):  # the server cannot pass it on: it closes the socket
            open_socket.send("during")
    echoed_while_down = echoes(stack)
    for name in ("worker", "ws"):  # the processes that read the backend all the time
        process = processes[name]
        wait_until(lambda: "backend unavailable" in process.output(), what=f"{name} to log the outage")  # noqa: B023
    postgres.start()
    wait_until(lambda: get(stack) == 200, timeout=30, what="pages to come back")
    wait_until(lambda: echoes(stack, 20), timeout=30, what="new sockets to be echoed again")
    for name in ("worker", "ws"):
        process = processes[name]
        wait_until(lambda: "backend reachable again" in process.output(), what=f"{name} to log the end")  # noqa: B023
    return Outage(processes, statuses_while_down, echoed_while_down, [get(stack) for _ in range(10)])


def test_the_site_answers_503_while_the_database_is_down_and_carries_on_after_it(outage: Outage) -> None:
    assert outage.statuses_while_down == [503] * REQUESTS_DURING_THE_OUTAGE
    assert not outage.echoed_while_down, "a socket was served while the database was down"
    assert outage.statuses_after == [200] * 10  # and new sockets are echoed again (the fixture waited for it)
    for name, process in outage.processes.items():
        assert process.process.poll() is None, f"{name} died:\n{process.output()}"
        assert "Traceback" not in process.output(), f"{name} logged a traceback:\n{process.output()}"


def test_each_process_logs_the_outage_once_and_its_end_once(outage: Outage) -> None:
    # A refused request or a closed socket may say why at INFO or DEBUG, not at WARNING or above.
    logged = {name: outage.outage_lines(name) for name in outage.processes}
    assert {name: len(lines) for name, lines in logged.items()} == dict.fromkeys(outage.processes, 1), "\n".join(
        line for lines in logged.values() for line in lines
    )
    ended = {name: process.output().count("backend reachable again") for name, process in outage.processes.items()}
    assert ended == dict.fromkeys(outage.processes, 1)
