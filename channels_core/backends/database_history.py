"""Group history in the database backend's tables (see :mod:`channels_core.backends.history`).

A group's ``GroupHistory`` row (``channels_core/models.py``) holds its
epoch, its latest offset and when it expires; its last messages are
``GroupHistoryEntry`` rows, with their positions already in their payloads. The functions here run inside the backend's
transaction, after :func:`locked_history` has locked the group's row: on
PostgreSQL ``SELECT ... FOR UPDATE`` makes the group's sends and adds with
``since`` wait for each other; SQLite runs one writing transaction at a time
(the site's transactions are ``IMMEDIATE``), so the row needs no lock there.

History transactions commit synchronously even on PostgreSQL, unlike a
claim: a commit lost in a crash would bring a history back to an older
offset under the same epoch, and the offsets sent again would mean other
messages to clients that saw the lost ones.
"""

from __future__ import annotations

import time
from typing import Any

from django.db.models import Exists, OuterRef

from ..messages import with_position
from ..models import GroupHistory, GroupHistoryEntry
from .history import Position, new_epoch

__all__ = ["clear_histories", "keep_message", "locked_history", "messages_after", "sweep_histories"]


def _histories(database: str) -> Any:
    return GroupHistory.objects.using(database)


def _entries(database: str) -> Any:
    return GroupHistoryEntry.objects.using(database)


def locked_history(database: str, group: str, expiry: float | None) -> GroupHistory | None:
    """``group``'s live history, its row locked to the end of the transaction.

    Args:
        expiry: seconds to keep the history from now; it is made (a new epoch,
            offset 0) if there is none or it expired. ``None``: only look, and
            return ``None`` for a missing or expired history.
    """
    now = time.time()
    while True:
        if expiry is not None:  # made first, so that there is a row to lock; a concurrent maker's wins
            fresh = GroupHistory(group=group, epoch=new_epoch(), offset=0, expires=now + expiry)
            _histories(database).bulk_create([fresh], ignore_conflicts=True)
        history: GroupHistory | None = _histories(database).select_for_update().filter(group=group).first()
        if history is not None or expiry is None:
            break
        # A sweep deleted the expired row between the two statements: make it again.
    if history is None or (history.expires <= now and expiry is None):
        return None
    if history.expires <= now:  # expired: its messages and epoch are gone, as if a sweep had come first
        history.epoch, history.offset = new_epoch(), 0
    if history.offset == 0:  # a new history: a sweep may have left the old one's messages behind
        _entries(database).filter(group=group).delete()
    if expiry is not None:
        history.expires = now + expiry
        history.save(update_fields=["epoch", "offset", "expires"])
    return history


def keep_message(database: str, history: GroupHistory, payload: bytes, size: int) -> tuple[Position, bytes]:
    """Number a message of a locked history, keep it (and only the last ``size``), and return it with its position."""
    history.offset += 1
    history.save(update_fields=["offset"])
    position = Position(history.group, history.epoch, history.offset)
    payload = with_position(payload, position.as_dict())
    _entries(database).create(group=history.group, offset=history.offset, payload=payload.decode())
    _entries(database).filter(group=history.group, offset__lte=history.offset - size).delete()
    return position, payload


def messages_after(database: str, group: str, offset: int) -> list[bytes]:
    """The payloads a history keeps after ``offset``, oldest first."""
    rows = _entries(database).filter(group=group, offset__gt=offset).order_by("offset")
    return [payload.encode() for payload in rows.values_list("payload", flat=True)]


def sweep_histories(database: str, now: float) -> None:
    """Delete expired histories, and kept messages whose group has no live history."""
    _histories(database).filter(expires__lte=now).delete()
    live = _histories(database).filter(group=OuterRef("group"), expires__gt=now)
    _entries(database).filter(~Exists(live)).delete()


def clear_histories(database: str) -> None:
    """Delete every history and every kept message."""
    _entries(database).all().delete()
    _histories(database).all().delete()
