"""The database backend beyond the contract: sends inside the caller's transaction, and outages.

* On the test PostgreSQL (alias ``postgres``): a send inside ``atomic()`` is
  part of the transaction, leaves its durability alone and holds no lock
  that another sender would wait for.
* Outages, for real: SQLite locked by another connection, and a private
  PostgreSQL server (:class:`~channels_core.testing.PostgresServer`)
  stopped and started again under the backend.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections, transaction

from channels_core.backends import BaseBackend, backend_from_config
from channels_core.backends.database import DatabaseBackend
from channels_core.exceptions import BackendUnavailable, ChannelFull
from channels_core.names import new_channel_name
from channels_core.testing import PostgresServer
from chat.models import Room
from tests.conftest import IN_CI, require_postgres

T = TypeVar("T")
#: Seconds a test waits for another thread before it calls the wait a failure.
DEADLINE = 10.0

postgres_db = pytest.mark.django_db(transaction=True, databases=["default", "postgres"])


def database_backend(database: str, **config: Any) -> DatabaseBackend:
    backend = backend_from_config(
        {"BACKEND": "channels_core.backends.database.DatabaseBackend", "DATABASE": database, **config}
    )
    assert isinstance(backend, DatabaseBackend)
    return backend


class ThreadRunning:
    """Runs ``work`` in a thread for the ``with`` block; :meth:`join` re-raises what it raised."""

    def __init__(self, work: Callable[[], None]) -> None:
        self._work = work
        self._errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        try:
            self._work()
        except BaseException as error:
            self._errors.append(error)
        finally:
            connections.close_all()

    def __enter__(self) -> ThreadRunning:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._thread.join(DEADLINE * 2)

    def join(self) -> None:
        assert not self._thread.is_alive(), "the thread is still running"
        if self._errors:
            raise self._errors[0]


def new_postgres_server(directory: Path) -> PostgresServer:
    """A private PostgreSQL server (not started); skipped where PostgreSQL's server programs are missing (not in CI)."""
    try:
        return PostgresServer(directory)
    except FileNotFoundError as error:
        if IN_CI:
            pytest.fail(f"{error}; CI must run the private PostgreSQL cases")
        pytest.skip(str(error))


def in_another_thread(work: Callable[[], T]) -> T:
    """``work()`` in a thread of its own, hence on a database connection of its own."""
    results: list[T] = []
    with ThreadRunning(lambda: results.append(work())) as thread:
        pass
    thread.join()
    return results[0]


def scalar(alias: str, sql: str) -> Any:
    with connections[alias].cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


# Sends inside the caller's transaction (PostgreSQL).


@pytest.fixture
def pg_backend() -> Iterator[DatabaseBackend]:
    require_postgres()
    backend = database_backend("postgres", POLL_INTERVAL=0.02, CHANNEL_CAPACITY={"tests.tiny": 1})
    backend.flush()
    yield backend
    backend.flush()


def save_and_announce(backend: BaseBackend, slug: str, channel: str) -> None:
    """What a consumer does: save a row and send a message about it, in one transaction."""
    room = Room.objects.using("postgres").create(slug=slug, title=slug.title())
    backend.send(channel, {"room": room.pk, "slug": slug})


@postgres_db
def test_a_send_in_a_transaction_leaves_its_durability_and_holds_no_lock(pg_backend: DatabaseBackend) -> None:
    server_setting = scalar("postgres", "SELECT reset_val FROM pg_settings WHERE name = 'synchronous_commit'")
    with transaction.atomic(using="postgres"):
        save_and_announce(pg_backend, "durable", "tests.durable")
        in_the_transaction = scalar("postgres", "SHOW synchronous_commit")
        advisory_locks = scalar(
            "postgres", "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        )
    assert in_the_transaction == server_setting
    assert advisory_locks == 0, "the send's queue lock outlived its statement"
    pg_backend.send("tests.durable", {"outside": "a transaction"})  # the backend's own, which may commit lazily
    assert scalar("postgres", "SHOW synchronous_commit") == server_setting, "the session's setting changed"


@postgres_db
def test_a_concurrent_sender_is_not_blocked_by_an_open_transaction(pg_backend: DatabaseBackend) -> None:
    first_sent, second_sent = threading.Event(), threading.Event()

    def second_sender() -> None:
        assert first_sent.wait(DEADLINE), "the first sender never sent"
        pg_backend.send("tests.shared", {"sender": 2})
        second_sent.set()

    with ThreadRunning(second_sender) as second, transaction.atomic(using="postgres"):
        save_and_announce(pg_backend, "first", "tests.shared")
        first_sent.set()
        sent_while_open = second_sent.wait(DEADLINE)
    second.join()
    assert sent_while_open, "the second send waited for the first transaction to commit"
    received = pg_backend.receive_many(["tests.shared"], timeout=0, limit=10)
    assert sorted(message.get("sender", 1) for _, message in received) == [1, 2]


@postgres_db
def test_a_send_is_delivered_when_its_transaction_commits_and_never_if_it_rolls_back(
    pg_backend: DatabaseBackend,
) -> None:
    with transaction.atomic(using="postgres"):
        save_and_announce(pg_backend, "kept", "tests.outcome")
        assert in_another_thread(lambda: pg_backend.receive(["tests.outcome"])) is None, "seen before the commit"
    with pytest.raises(RuntimeError), transaction.atomic(using="postgres"):
        save_and_announce(pg_backend, "dropped", "tests.outcome")
        raise RuntimeError("the consumer fails after its send")
    received = in_another_thread(lambda: pg_backend.receive_many(["tests.outcome"], timeout=0, limit=10))
    assert [message["slug"] for _, message in received] == ["kept"]
    assert list(Room.objects.using("postgres").values_list("slug", flat=True)) == ["kept"]


@postgres_db
def test_a_full_channel_inside_a_transaction_leaves_the_transaction_usable(pg_backend: DatabaseBackend) -> None:
    with transaction.atomic(using="postgres"):
        save_and_announce(pg_backend, "one", "tests.tiny")
        with pytest.raises(ChannelFull, match=r"'tests\.tiny' is full"):
            pg_backend.send("tests.tiny", {"too": "many"})
        Room.objects.using("postgres").create(slug="two", title="Two")  # the transaction goes on
    assert sorted(Room.objects.using("postgres").values_list("slug", flat=True)) == ["one", "two"]
    assert [m["slug"] for _, m in pg_backend.receive_many(["tests.tiny"], timeout=0, limit=10)] == ["one"]


# Every public path, for the outage tests: each calls one method once.

OPERATIONS: dict[str, Callable[[BaseBackend], object]] = {
    "send": lambda backend: backend.send("tests.outage", {"n": 1}),
    "send_many": lambda backend: _raise_first(backend.send_many([("tests.outage", {"n": 1})])),
    "receive": lambda backend: backend.receive(["tests.outage"]),
    "receive_many": lambda backend: backend.receive_many(["tests.outage"], limit=5),
    "receive_inbox": lambda backend: backend.receive_inbox("!tests.outage"),
    "group_add": lambda backend: backend.group_add("outage", "!tests.outage.member"),
    "group_discard": lambda backend: backend.group_discard("outage", "!tests.outage.member"),
    "group_channels": lambda backend: backend.group_channels("outage"),
    "group_send": lambda backend: backend.group_send("outage", {"n": 1}),
    "flush": lambda backend: backend.flush(),
}


def _raise_first(outcomes: list[Any]) -> None:
    """``send_many`` reports outcomes instead of raising: raise the first, as ``send`` would."""
    for outcome in outcomes:
        if outcome is not None:
            raise outcome


# Outages on SQLite: another connection holds the write lock ("database is locked").


@contextlib.contextmanager
def sqlite_write_lock(path: str) -> Iterator[None]:
    """Another connection to the file holds its write lock for the block, as a long write would."""
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


# SQLite in WAL mode lets readers in beside a writer: group_channels only reads.
SQLITE_LOCKABLE = [name for name in OPERATIONS if name != "group_channels"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("operation", SQLITE_LOCKABLE)
def test_sqlite_locked_is_backend_unavailable_and_the_backend_recovers(operation: str) -> None:
    backend = database_backend(DEFAULT_DB_ALIAS)
    backend.group_add("outage", "!tests.outage.member")  # so that a group send has somebody to write for
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout = 50")  # this connection gives up waiting for the lock at once
    with sqlite_write_lock(connections[DEFAULT_DB_ALIAS].settings_dict["NAME"]):
        with pytest.raises(BackendUnavailable, match=r"^database 'default' is unavailable: database is locked$"):
            OPERATIONS[operation](backend)
        assert connections[DEFAULT_DB_ALIAS].connection is None, "the failed connection was not closed"
    OPERATIONS[operation](backend)  # a new connection, once the lock is gone


# Outages on PostgreSQL: a private server, stopped and started again.

PRIVATE = "private_postgres"


@pytest.fixture(scope="module")
def private_postgres(tmp_path_factory: pytest.TempPathFactory, django_db_blocker: Any) -> Iterator[PostgresServer]:
    """A private PostgreSQL server, migrated, reachable as the database alias :data:`PRIVATE`."""
    server = new_postgres_server(tmp_path_factory.mktemp("private-postgres"))
    try:
        server.start()
        connections.settings[PRIVATE] = connections.configure_settings(
            {DEFAULT_DB_ALIAS: {}, PRIVATE: server.database_settings()}
        )[PRIVATE]
        with django_db_blocker.unblock():
            call_command("migrate", "channels_core", database=PRIVATE, verbosity=0)
        yield server
    finally:
        if PRIVATE in connections.settings:
            connections[PRIVATE].close()
            del connections.settings[PRIVATE]
        server.remove()


@pytest.fixture
def private_backend(private_postgres: PostgresServer, django_db_blocker: Any) -> Iterator[DatabaseBackend]:
    """A backend on the private server; the server runs again after the test, whatever the test did to it."""
    with django_db_blocker.unblock():
        backend = database_backend(PRIVATE)
        backend.flush()
        yield backend
        if private_postgres.pid is None:
            private_postgres.start()
        with contextlib.suppress(BackendUnavailable):
            backend.flush()
        connections[PRIVATE].close()


@pytest.mark.parametrize("operation", OPERATIONS)
def test_postgres_down_is_backend_unavailable_and_the_backend_recovers(
    operation: str, private_postgres: PostgresServer, private_backend: DatabaseBackend
) -> None:
    OPERATIONS[operation](private_backend)  # connected
    private_postgres.stop()
    for _ in range(2):  # the lost connection, then a refused one
        with pytest.raises(BackendUnavailable, match=rf"^database '{PRIVATE}' is unavailable: \S.*"):
            OPERATIONS[operation](private_backend)
    assert connections[PRIVATE].connection is None, "the failed connection was not closed"
    private_postgres.start()
    OPERATIONS[operation](private_backend)


def test_an_idle_connection_to_a_restarted_server_is_replaced_before_a_send(
    private_postgres: PostgresServer, private_backend: DatabaseBackend
) -> None:
    """The server hung up on the idle connection while it restarted: the first send after it still goes through."""
    private_backend.send("tests.restart", {"n": 1})
    private_postgres.stop()
    private_postgres.start()
    private_backend.send("tests.restart", {"n": 2})  # nothing sent on the dead connection: no error, no retry
    assert [m["n"] for _, m in private_backend.receive_many(["tests.restart"], limit=5)] == [1, 2]


def test_postgres_down_inside_the_callers_transaction(
    private_postgres: PostgresServer, private_backend: DatabaseBackend
) -> None:
    """The backend raises and leaves the connection to the caller's ``atomic()``, which fails as it ends."""
    # Django's atomic() cannot end a transaction whose server is gone, and says so with its own error.
    with pytest.raises(OperationalError), transaction.atomic(using=PRIVATE):
        private_backend.send("tests.atomic", {"n": 1})
        private_postgres.stop()
        with pytest.raises(BackendUnavailable, match=f"database '{PRIVATE}' is unavailable"):
            private_backend.send("tests.atomic", {"n": 2})
        assert connections[PRIVATE].connection is not None, "the backend closed the caller's connection"
    private_postgres.start()
    private_backend.send("tests.atomic", {"n": 3})
    assert [m["n"] for _, m in private_backend.receive_many(["tests.atomic"], limit=5)] == [3]


def test_the_error_names_the_database_and_the_cause(
    private_postgres: PostgresServer, private_backend: DatabaseBackend
) -> None:
    private_postgres.stop()
    with pytest.raises(BackendUnavailable) as raised:
        private_backend.send(new_channel_name("!tests.named"), {"n": 1})
    message = str(raised.value)
    assert message.startswith(f"database '{PRIVATE}' is unavailable: ")
    assert f"port {private_postgres.port}" in message and "\n" not in message


def test_private_postgres_keeps_its_cluster_in_reach_of_its_user(private_postgres: PostgresServer) -> None:
    home = private_postgres.home
    assert home is not None and (home / "data" / "PG_VERSION").exists()
    assert Path(private_postgres.directory / "postgres").resolve() == home.resolve()
