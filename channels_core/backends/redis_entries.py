"""Entries as the Redis backends store them, read back: what both the Redis and the Redis Cluster backend share.

An entry is ``<deadline ms>|<channels>|<json>`` (see :mod:`~channels_core.backends.redis_lua`);
a group send's names ``@<snapshot id>`` instead of its channels.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TypeVar

from .. import metrics
from .storage import Entry

__all__ = [
    "SEND_BATCH_BYTES",
    "SEND_BATCH_COUNT",
    "SHARD_POLL_SLICE",
    "live_entries",
    "pop_in_turn",
    "send_batches",
    "snapshots_named",
    "written_out",
]

#: Most messages, and about the most bytes, stored by one call of the ``SEND`` script.
SEND_BATCH_COUNT = 100
SEND_BATCH_BYTES = 1024 * 1024
#: Longest blocking pop while listening on several shards (or slots), so a message on
#: another waits at most about this long per shard.
SHARD_POLL_SLICE = 0.05

#: Where a pop goes: a shard, or a Redis Cluster slot.
Where = TypeVar("Where")
Listens = list[tuple[Where, list[str]]]


def pop_in_turn(
    listens: Listens[Where],
    turn: int,
    timeout: float,
    single_slice: float,
    take: Callable[[Where, list[str], float | None], list[Entry]],
    holding: Callable[[Listens[Where]], Listens[Where]] = lambda listens: listens,
) -> list[Entry]:
    """The entries of the first place of ``listens`` that has any, waiting up to ``timeout`` seconds for one.

    ``listens`` pairs each place (shard or slot) with the keys of its queues;
    ``take(where, keys, wait)`` pops there, blocking up to ``wait`` seconds
    (``None``: not at all). The places are taken from ``turn`` on, so no
    place's queues starve. With several, each that ``holding`` says may hold
    entries is looked at without blocking, then one is blocked on for at most
    :data:`SHARD_POLL_SLICE`, in turn; with one, it is blocked on for at most
    ``single_slice`` at a time (a pop must end before its socket times out).
    """
    turn %= len(listens)
    listens = listens[turn:] + listens[:turn]
    several = len(listens) > 1
    block = SHARD_POLL_SLICE if several else single_slice
    deadline = time.monotonic() + timeout
    while True:
        if several or timeout == 0:
            for where, keys in holding(listens):
                if entries := take(where, keys, None):
                    return entries
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return []
        where, keys = listens[0]
        listens = listens[1:] + listens[:1]  # block on each in turn
        if entries := take(where, keys, max(min(remaining, block), 0.01)):
            return entries


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
