"""The database backend: channels in Django's own database, across processes.

It needs nothing but the database the site already has (SQLite or
PostgreSQL), which makes it the multi-process option without Redis. It is
slower than Redis and receivers poll (with a short back-off), so use it for
modest traffic.

Entries are claimed by deleting their rows in one statement (``DELETE ...
RETURNING``; on PostgreSQL the rows are picked with ``FOR UPDATE SKIP
LOCKED``), so two receivers never get the same one.

**A send inside the caller's transaction** (a ``transaction.atomic()``
block on the backend's database) is part of that transaction: its row is
written with the caller's, so a receiver gets the message once the caller
commits and never if it rolls back. The send leaves the transaction as it
found it: it does not change ``synchronous_commit``, and it holds no lock
past its own statements. So capacity is exact for sends outside a
transaction, while a send inside one does not count the messages other
still-open transactions have sent to the same queue (it cannot see them):
a queue may go over its capacity by those. Waiting for them instead would
stall every sender to the queue until the slowest transaction commits.

**An outage** (the server down or restarting, a lost connection, a lock
timeout such as SQLite's "database is locked") raises
:exc:`~channels_core.exceptions.BackendUnavailable` naming the database
alias, from every public method. Outside a caller's transaction the failed
connection is closed, so the next call reconnects once the server is back;
inside one it is left to the caller, whose transaction is lost anyway. A
failed send is never retried (a retried send whose commit did reach the
server would deliver twice).

**Group history** (``GROUP_HISTORY``) is kept in two more tables, by
:mod:`channels_core.backends.database_history`: a send to such a group, and
an add with ``since``, are each one transaction holding the group's lock.
"""

from __future__ import annotations

import contextlib
import select
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from django.db import DatabaseError, InterfaceError, OperationalError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from .. import defaults, metrics
from ..exceptions import BackendUnavailable
from ..models import GroupMember, QueuedMessage
from ..names import inbox_of
from .base import BaseBackend
from .database_history import clear_histories, keep_message, locked_history, messages_after, sweep_histories
from .history import Position, Recovery, covers
from .storage import Entry, GroupSendResult, group_by_queue

__all__ = ["DatabaseBackend"]

#: Seconds between sweeps that delete expired rows, per process.
SWEEP_INTERVAL = 1.0
#: Separates the channels of a group send's entry (channel names never contain it).
SEPARATOR = ","

# The oldest live rows of the first queues; SQLite runs one writer at a time,
# so its sub-select and delete are atomic without row locks.
_CLAIM = (
    "DELETE FROM {table} WHERE id IN ("
    " SELECT id FROM {table} WHERE queue IN ({queues}) AND expires > %s"
    " ORDER BY id LIMIT %s{lock}"
    ") RETURNING id, queue, channels, payload, expires"
)
_ROW_LOCKS = {"postgresql": " FOR UPDATE SKIP LOCKED", "sqlite": ""}

# Expired rows; rows another sweep (or a claim) has locked are left to it, so
# two processes sweeping at once never wait for, or deadlock with, each other.
_SWEEP = "DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE expires <= %s{lock})"
#: The messages swept are dropped: their queues and channels are returned to be counted.
_RETURNING_DROPPED = " RETURNING queue, channels"

# Insert unless the queue holds `capacity` live entries (counting at most that
# many rows keeps a send cheap however long the queue).
_PUSH = (
    "INSERT INTO {table} (queue, channels, payload, expires) SELECT %s, %s, %s, %s"
    " WHERE (SELECT COUNT(*) FROM (SELECT 1 FROM {table} WHERE queue = %s AND expires > %s LIMIT %s) AS live) < %s"
)

# PostgreSQL: one lock per queue serialises its senders, so each counts the
# entries the one before it added. Transaction-level in the backend's own
# transaction (released by its commit, which makes the entry visible);
# session-level inside the caller's, released right after the insert.
_LOCK_OWN_TRANSACTION = "SELECT set_config('synchronous_commit', 'off', true), pg_advisory_xact_lock(hashtext(%s))"
_LOCK = "SELECT pg_advisory_lock(hashtext(%s))"
_UNLOCK = "SELECT pg_advisory_unlock(hashtext(%s))"


class DatabaseBackend(BaseBackend):
    """Channels and groups in two tables of a Django database.

    Extra ``CHANNEL_BACKENDS`` keys: ``DATABASE`` (alias in ``DATABASES``,
    default ``"default"``) and ``POLL_INTERVAL`` (longest pause between two
    looks while waiting, default 0.1 s).
    """

    def __init__(self, config: Mapping[str, Any], alias: str = defaults.DEFAULT_ALIAS) -> None:
        super().__init__(config, alias)
        self.database: str = config.get("DATABASE", "default")
        self.poll_interval = float(config.get("POLL_INTERVAL", defaults.DATABASE_POLL_INTERVAL))
        self._next_sweep = 0.0

    @property
    def _vendor(self) -> str:
        vendor: str = connections[self.database].vendor
        if vendor not in _ROW_LOCKS:
            raise NotImplementedError(
                f"the database channel backend supports {' and '.join(_ROW_LOCKS)}, not {vendor} "
                f"(database {self.database!r})"
            )
        return vendor

    def _messages(self) -> Any:
        return QueuedMessage.objects.using(self.database)

    def _members(self) -> Any:
        return GroupMember.objects.using(self.database)

    @contextlib.contextmanager
    def _connection(self) -> Iterator[BaseDatabaseWrapper]:
        """This thread's connection to the database; a failure in the block raises :exc:`BackendUnavailable`.

        A connection that failed is closed unless it is in the caller's
        transaction (closing it would not save that transaction, and the
        caller's ``atomic()`` block expects to end it), so the next call
        reconnects once the server is back.
        """
        connection = connections[self.database]
        try:
            if not _in_callers_transaction(connection) and _closed_by_server(connection):
                connection.close()  # nothing was sent on it: reconnecting is safe, even for a send
            yield connection
        except (OperationalError, InterfaceError) as error:
            if not _in_callers_transaction(connection):
                with contextlib.suppress(DatabaseError):
                    connection.close()
            raise BackendUnavailable(f"database {self.database!r} is unavailable: {_one_line(error)}") from error

    def _sweep(self, connection: BaseDatabaseWrapper, now: float) -> None:
        """Reclaim expired rows, at most once per ``SWEEP_INTERVAL`` in this process, in a transaction of its own."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + SWEEP_INTERVAL
        with connection.cursor() as cursor:
            for model, returning in ((QueuedMessage, _RETURNING_DROPPED), (GroupMember, "")):
                table = connection.ops.quote_name(model._meta.db_table)
                cursor.execute(_SWEEP.format(table=table, lock=_ROW_LOCKS[self._vendor]) + returning, [now])
                if returning:
                    expired: Counter[str] = Counter()
                    for queue, channels in cursor.fetchall():
                        expired[queue] += len(channels.split(SEPARATOR))
                    for queue, count in expired.items():
                        metrics.dropped(metrics.EXPIRED, queue, count)
        sweep_histories(self.database, now)

    def _push(self, queue: str, channels: Sequence[str], payload: bytes, capacity: int) -> bool:
        with self._connection() as connection:
            if _in_callers_transaction(connection):
                # A savepoint: a failed insert leaves the caller's transaction usable, and the lock releasable.
                with self._locked_for_the_statement(connection, queue), transaction.atomic(using=self.database):
                    return self._insert(connection, queue, channels, payload, capacity)
            self._sweep(connection, time.time())
            with transaction.atomic(using=self.database):
                if self._vendor == "postgresql":
                    with connection.cursor() as cursor:
                        cursor.execute(_LOCK_OWN_TRANSACTION, [queue])
                return self._insert(connection, queue, channels, payload, capacity)

    @contextlib.contextmanager
    def _locked_for_the_statement(self, connection: BaseDatabaseWrapper, queue: str) -> Iterator[None]:
        """On PostgreSQL, inside the caller's transaction: hold the queue's lock for the block only.

        A transaction-level lock would last until the caller commits, and
        every other sender to the queue would wait for that.
        """
        if self._vendor != "postgresql":
            yield
            return
        with connection.cursor() as cursor:
            cursor.execute(_LOCK, [queue])
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute(_UNLOCK, [queue])

    def _insert(
        self, connection: BaseDatabaseWrapper, queue: str, channels: Sequence[str], payload: bytes, capacity: int
    ) -> bool:
        """Add the entry unless ``queue`` holds ``capacity`` live ones; ``False`` if it was full."""
        now = time.time()
        with connection.cursor() as cursor:
            cursor.execute(
                _PUSH.format(table=connection.ops.quote_name(QueuedMessage._meta.db_table)),
                [
                    *(queue, SEPARATOR.join(channels), payload.decode(), now + self.expiry_for(queue)),
                    *(queue, now, capacity, capacity),
                ],
            )
            return bool(cursor.rowcount == 1)

    def _pop(self, queues: list[str], timeout: float, limit: int) -> list[Entry]:
        deadline = time.monotonic() + timeout
        pause = 0.005
        with self._connection() as connection:
            sql = _CLAIM.format(
                table=connection.ops.quote_name(QueuedMessage._meta.db_table),
                queues=", ".join(["%s"] * len(queues)),
                lock=_ROW_LOCKS[self._vendor],
            )
            while True:
                rows = self._claim(connection, sql, [*queues, time.time(), limit])
                if rows:
                    self._count_waits(rows)
                    return [(channels.split(SEPARATOR), payload.encode()) for _, _, channels, payload, _ in rows]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                time.sleep(min(pause, remaining))
                pause = min(pause * 2, self.poll_interval)

    def _count_waits(self, rows: list[tuple[Any, ...]]) -> None:
        """Record how long the claimed messages waited: each was sent its queue's expiry before it ``expires``."""
        now = time.time()
        for queue in {row[1] for row in rows}:
            sent = now + self.expiry_for(queue)  # what ``expires`` would be for a message sent now
            metrics.waited(queue, [sent - float(expires) for _, of, _, _, expires in rows if of == queue])

    def _claim(self, connection: BaseDatabaseWrapper, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        """Delete and return the rows ``sql`` picks, oldest first.

        In the backend's own transaction on PostgreSQL, the commit does not
        wait for the disk: delivery is at most once anyway, so a claim need
        not survive a database crash. The caller's transaction is left as it is.
        """
        own_transaction = not _in_callers_transaction(connection)
        with transaction.atomic(using=self.database), connection.cursor() as cursor:
            if own_transaction and self._vendor == "postgresql":
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
            cursor.execute(sql, params)
            return sorted(cursor.fetchall())

    def _group_add(self, group: str, channel: str) -> None:
        with self._connection():
            self._upsert_member(group, channel)

    def _upsert_member(self, group: str, channel: str) -> None:
        member = GroupMember(group=group, channel=channel, expires=time.time() + self.group_expiry)
        self._members().bulk_create(
            [member], update_conflicts=True, unique_fields=["group", "channel"], update_fields=["expires"]
        )

    def _group_position(self, group: str, size: int) -> Position:
        with self._connection(), transaction.atomic(using=self.database):
            history = locked_history(self.database, group, self.history_expiry)
            assert history is not None  # made when missing
            return Position(group, history.epoch, history.offset)

    def _group_send_history(self, group: str, payload: bytes, size: int) -> GroupSendResult:
        with self._connection() as connection, transaction.atomic(using=self.database):
            history = locked_history(self.database, group, self.history_expiry)
            assert history is not None  # made when missing
            position, payload = keep_message(self.database, history, payload, size)
            # The members are read under the group's lock: an add with since that committed first is one.
            queues = group_by_queue(self._live_members(group))
            if self._vendor == "postgresql":  # each queue's lock, as a plain send takes it; in one order, no deadlock
                with connection.cursor() as cursor:
                    for queue in sorted(queues):
                        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [queue])
            result = GroupSendResult()
            for queue, members in queues.items():
                if self._insert(connection, queue, members, payload, self.capacity_for(queue)):
                    result.delivered += len(members)
                else:
                    result.skipped += len(members)
            result.position = position.as_dict()
            return result

    def _group_add_since(self, group: str, channel: str, since: Position, size: int) -> Recovery:
        with self._connection(), transaction.atomic(using=self.database):
            self._upsert_member(group, channel)
            history = locked_history(self.database, group, expiry=None)
            if history is None or not covers(since, history.epoch, history.offset, size):
                return Recovery(recovered=False, replayed=0)
            missed = messages_after(self.database, group, since.offset)
            expires = time.time() + self.expiry_for(inbox_of(channel))
            self._messages().bulk_create(
                [
                    QueuedMessage(queue=inbox_of(channel), channels=channel, payload=p.decode(), expires=expires)
                    for p in missed
                ]
            )
            return Recovery(recovered=True, replayed=len(missed))

    def _group_discard(self, group: str, channel: str) -> None:
        with self._connection():
            self._members().filter(group=group, channel=channel).delete()

    def _group_channels(self, group: str) -> list[str]:
        with self._connection():
            return self._live_members(group)

    def _live_members(self, group: str) -> list[str]:
        return list(self._members().filter(group=group, expires__gt=time.time()).values_list("channel", flat=True))

    def flush(self) -> None:
        with self._connection():
            self._messages().all().delete()
            self._members().all().delete()
            clear_histories(self.database)


def _in_callers_transaction(connection: BaseDatabaseWrapper) -> bool:
    """Whether a transaction the backend did not open is in progress: an ``atomic()`` block, or autocommit off."""
    return connection.in_atomic_block or (connection.connection is not None and not connection.autocommit)


def _closed_by_server(connection: BaseDatabaseWrapper) -> bool:
    """Whether the server hung up on an idle PostgreSQL connection (it was restarted), so a query would fail.

    A server that shuts down says so to its idle clients and closes their
    sockets; either makes the socket readable while no query is running.
    """
    raw = connection.connection
    if raw is None or connection.vendor != "postgresql":
        return False
    try:
        fd = int(raw.fileno())
    except Exception:  # the driver's own error: it has no socket left
        return True
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])


def _one_line(error: Exception) -> str:
    """The driver's message on one line (libpq's span several), for one log line per error."""
    return " ".join(str(error).split())
