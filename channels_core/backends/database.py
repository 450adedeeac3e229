"""The database backend: channels in Django's own database, across processes.

It needs nothing but the database the site already has (SQLite or
PostgreSQL), which makes it the multi-process option without Redis. It is
slower than Redis and receivers poll (with a short back-off), so use it for
modest traffic.

Entries are claimed by deleting their rows in one statement (``DELETE ...
RETURNING``; on PostgreSQL the rows are picked with ``FOR UPDATE SKIP
LOCKED``), so two receivers never get the same one. A send made inside a
``transaction.atomic()`` block is part of that transaction.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connections, transaction

from .. import defaults
from ..models import GroupMember, QueuedMessage
from .base import BaseBackend, Entry

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
    ") RETURNING id, queue, channels, payload"
)
_ROW_LOCKS = {"postgresql": " FOR UPDATE SKIP LOCKED", "sqlite": ""}

# Insert unless the queue holds `capacity` live entries (counting at most that
# many rows keeps a send cheap however long the queue).
_PUSH = (
    "INSERT INTO {table} (queue, channels, payload, expires) SELECT %s, %s, %s, %s"
    " WHERE (SELECT COUNT(*) FROM (SELECT 1 FROM {table} WHERE queue = %s AND expires > %s LIMIT %s) AS live) < %s"
)


class DatabaseBackend(BaseBackend):
    """Channels and groups in two tables of a Django database.

    Extra ``CHANNEL_BACKENDS`` keys: ``DATABASE`` (alias in ``DATABASES``,
    default ``"default"``) and ``POLL_INTERVAL`` (longest pause between two
    looks while waiting, default 0.1 s).
    """

    def __init__(self, config: Mapping[str, Any], alias: str = defaults.DEFAULT_ALIAS) -> None:
        super().__init__(config, alias)
        self.database: str = config.get("DATABASE", "default")
        self.poll_interval = float(config.get("POLL_INTERVAL", 0.1))
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

    def _sweep(self, now: float) -> None:
        """Reclaim expired rows, at most once per ``SWEEP_INTERVAL`` in this process."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + SWEEP_INTERVAL
        self._messages().filter(expires__lte=now).delete()
        self._members().filter(expires__lte=now).delete()

    def _lock_queue(self, queue: str) -> None:
        """On PostgreSQL: serialise senders to one queue, so capacity is exact, and commit without waiting.

        Delivery is at most once anyway, so a message need not survive a
        database crash: not waiting for the commit to reach the disk makes a
        send several times faster. Other writes of the transaction wait as usual
        if they ask for it; this setting ends with the transaction.
        """
        if self._vendor == "postgresql":
            with connections[self.database].cursor() as cursor:
                cursor.execute(
                    "SELECT set_config('synchronous_commit', 'off', true), pg_advisory_xact_lock(hashtext(%s))",
                    [queue],
                )

    def _push(self, queue: str, channels: Sequence[str], payload: bytes, capacity: int) -> bool:
        now = time.time()
        connection = connections[self.database]
        with transaction.atomic(using=self.database), connection.cursor() as cursor:
            self._sweep(now)
            self._lock_queue(queue)
            cursor.execute(
                _PUSH.format(table=connection.ops.quote_name(QueuedMessage._meta.db_table)),
                [
                    queue,
                    SEPARATOR.join(channels),
                    payload.decode(),
                    now + self.expiry_for(queue),
                    queue,
                    now,
                    capacity,
                    capacity,
                ],
            )
            return bool(cursor.rowcount == 1)

    def _pop(self, queues: list[str], timeout: float, limit: int) -> list[Entry]:
        connection = connections[self.database]
        sql = _CLAIM.format(
            table=connection.ops.quote_name(QueuedMessage._meta.db_table),
            queues=", ".join(["%s"] * len(queues)),
            lock=_ROW_LOCKS[self._vendor],
        )
        deadline = time.monotonic() + timeout
        pause = 0.005
        while True:
            with transaction.atomic(using=self.database), connection.cursor() as cursor:
                if self._vendor == "postgresql":
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")  # as in _lock_queue
                cursor.execute(sql, [*queues, time.time(), limit])
                rows = sorted(cursor.fetchall())
            if rows:
                return [(channels.split(SEPARATOR), payload.encode()) for _, _, channels, payload in rows]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, self.poll_interval)

    def _group_add(self, group: str, channel: str) -> None:
        member = GroupMember(group=group, channel=channel, expires=time.time() + self.group_expiry)
        self._members().bulk_create(
            [member], update_conflicts=True, unique_fields=["group", "channel"], update_fields=["expires"]
        )

    def _group_discard(self, group: str, channel: str) -> None:
        self._members().filter(group=group, channel=channel).delete()

    def _group_channels(self, group: str) -> list[str]:
        return list(self._members().filter(group=group, expires__gt=time.time()).values_list("channel", flat=True))

    def flush(self) -> None:
        self._messages().all().delete()
        self._members().all().delete()
