"""Entries as the Redis backends store them, read back: what both the Redis and the Redis Cluster backend share.

An entry is ``<deadline ms>|<channels>|<json>`` (see :mod:`~channels_core.backends.redis_lua`);
a group send's names ``@<snapshot id>`` instead of its channels.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from .. import metrics
from .storage import Entry

__all__ = ["SEND_BATCH_BYTES", "SEND_BATCH_COUNT", "live_entries", "send_batches", "snapshots_named", "written_out"]

#: Most messages, and about the most bytes, stored by one call of the ``SEND`` script.
SEND_BATCH_COUNT = 100
SEND_BATCH_BYTES = 1024 * 1024


def live_entries(entries: Sequence[bytes], now_ms: float, queue: str = "", expiry: float = 0.0) -> list[Entry]:
    """The entries popped from a queue (``<deadline>|<channels>|<json>``) whose deadline is after ``now_ms``.

    Given the ``queue`` and its ``expiry`` (seconds), the others are counted as dropped
    (:mod:`channels_core.metrics`), and how long the live ones waited is recorded: each
    was sent ``expiry`` before its deadline.
    """
    alive: list[Entry] = []
    waits: list[float] = []
    expired = 0
    for entry in entries:
        deadline, channels, payload = entry.split(b"|", 2)
        if int(deadline) > now_ms:
            alive.append((channels.decode().split(","), payload))
            waits.append(expiry - (int(deadline) - now_ms) / 1000)
        else:  # a group send's entry names a snapshot of its members: counted as one
            expired += channels.count(b",") + 1
    if queue:
        metrics.waited(queue, waits)
        metrics.dropped(metrics.EXPIRED, queue, expired)
    return alive


def snapshots_named(entries: Sequence[Entry]) -> list[str]:
    """The ids of the member snapshots that group-send entries name (``@<id>``)."""
    return sorted({channels[0][1:] for channels, _ in entries if channels[0].startswith("@")})


def written_out(entries: Sequence[Entry], snapshots: Mapping[str, bytes | None]) -> list[Entry]:
    """``entries`` with each snapshot they name replaced by its members; one whose snapshot is gone is dropped."""
    members = {name: value.decode().split(",") for name, value in snapshots.items() if value}
    result = []
    for channels, payload in entries:
        if channels[0].startswith("@"):
            channels = members.get(channels[0][1:], [])  # a snapshot gone means its members are gone
        if channels:
            result.append((channels, payload))
    return result


def send_batches(indexes: list[int], sizes: list[int]) -> Iterator[list[int]]:
    """``indexes`` (of messages of ``sizes`` bytes) in runs of at most :data:`SEND_BATCH_COUNT`.

    A run holds about :data:`SEND_BATCH_BYTES` at most (a larger message has a run of its own).
    """
    batch: list[int] = []
    size = 0
    for index, item_size in zip(indexes, sizes, strict=True):
        if batch and (len(batch) == SEND_BATCH_COUNT or size + item_size > SEND_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(index)
        size += item_size
    if batch:
        yield batch
