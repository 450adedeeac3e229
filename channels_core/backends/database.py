"""The database backend: channels in Django's own database, across processes.

It needs nothing but the database the site already has (SQLite or
PostgreSQL), which makes it the multi-process option without Redis. It is
slower than Redis and receivers poll (with a short back-off), so use it for
modest traffic.

A message is claimed by deleting its row in one statement (``DELETE ...
RETURNING``; on PostgreSQL the row is picked with ``FOR UPDATE SKIP
LOCKED``), so two receivers never get the same one. A send made inside a
``transaction.atomic()`` block is part of that transaction.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from django.db import connections, transaction
from django.db.models import Count

from .. import defaults
from ..models import GroupMember, QueuedMessage
from ..names import inbox_of
from .base import BaseBackend, GroupSendResult

__all__ = ["DatabaseBackend"]

#: Seconds between sweeps that delete expired rows, per process.
SWEEP_INTERVAL = 1.0
#: Supported ``connection.vendor`` values.
VENDORS = ("postgresql", "sqlite")

_CLAIM = {
    "postgresql": (
        "DELETE FROM {table} WHERE id = ("
        " SELECT id FROM {table} WHERE queue IN ({queues}) AND expires > %s"
        " ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
        ") RETURNING channel, payload"
    ),
    # SQLite runs one writer at a time, so the sub-select and delete are atomic.
    "sqlite": (
        "DELETE FROM {table} WHERE id = ("
        " SELECT id FROM {table} WHERE queue IN ({queues}) AND expires > %s"
        " ORDER BY id LIMIT 1"
        ") RETURNING channel, payload"
    ),
}


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
        if vendor not in VENDORS:
            raise NotImplementedError(
                f"the database channel backend supports {' and '.join(VENDORS)}, not {vendor} "
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

    def _lock_channel(self, channel: str) -> None:
        """Serialise senders to one channel on PostgreSQL, so capacity is exact."""
        if self._vendor == "postgresql":
            with connections[self.database].cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [channel])

    def _send(self, channel: str, queue: str, payload: bytes, capacity: int) -> bool:
        now = time.time()
        with transaction.atomic(using=self.database):
            self._sweep(now)
            self._lock_channel(channel)
            if self._messages().filter(channel=channel, expires__gt=now).count() >= capacity:
                return False
            self._messages().create(queue=queue, channel=channel, payload=payload.decode(), expires=now + self.expiry)
        return True

    def _receive(self, queues: list[str], timeout: float) -> tuple[str, bytes] | None:
        sql = _CLAIM[self._vendor].format(
            table=connections[self.database].ops.quote_name(QueuedMessage._meta.db_table),
            queues=", ".join(["%s"] * len(queues)),
        )
        deadline = time.monotonic() + timeout
        pause = 0.005
        while True:
            with transaction.atomic(using=self.database), connections[self.database].cursor() as cursor:
                cursor.execute(sql, [*queues, time.time()])
                row = cursor.fetchone()
            if row is not None:
                return row[0], row[1].encode()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
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

    def _group_send(self, group: str, payload: bytes) -> GroupSendResult:
        """One transaction: count what each member holds, then insert all copies at once."""
        now = time.time()
        result = GroupSendResult()
        with transaction.atomic(using=self.database):
            self._sweep(now)
            members = self._group_channels(group)
            waiting = dict(
                self._messages()
                .filter(channel__in=members, expires__gt=now)
                .values_list("channel")
                .annotate(count=Count("id"))
            )
            copies = []
            text = payload.decode()
            for channel in members:
                if waiting.get(channel, 0) >= self.capacity_for(channel):
                    result.skipped += 1
                    continue
                copies.append(
                    QueuedMessage(queue=inbox_of(channel), channel=channel, payload=text, expires=now + self.expiry)
                )
            self._messages().bulk_create(copies)
            result.delivered = len(copies)
        return result

    def flush(self) -> None:
        self._messages().all().delete()
        self._members().all().delete()
