"""Where each slot of a Redis Cluster is served, and commands sent there, following the cluster as it moves.

Part of :mod:`channels_core.backends.redis_cluster`. A :class:`SlotRouter`
keeps the slot map (``CLUSTER SLOTS``, asked of any node that answers) and one
:class:`~channels_core.backends.redis_shard.Shard` per primary: a bounded pool
whose commands are never retried. It sends a command to the node that serves
its slot and follows the cluster only when that is safe:

* ``MOVED``: the node did not run the command; the slot is noted at its new
  node and the command sent there (resharding, or a failover seen first by the node).
* ``ASK``: the slot is being moved and the key is already at the new node; the
  command goes there once, after ``ASKING``.
* a node that cannot be reached (its connection failed before anything was
  sent, :exc:`~channels_core.backends.redis_shard.NotSent`): the map is read
  again from another node and the command sent to the slot's node, if another.

Any other failure (a connection lost or a timeout after the command was sent,
``CLUSTERDOWN``, ``TRYAGAIN``, a replica answering ``READONLY``) reaches the
caller as :exc:`~channels_core.exceptions.BackendUnavailable` and marks the map
stale: the next command reads it again first, so it finds a promoted replica.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.crc import key_slot

from ..exceptions import BackendUnavailable
from .redis_shard import NotSent, Shard

__all__ = ["SLOTS", "SlotRouter", "slot_of"]

T = TypeVar("T")

#: Slots of a Redis Cluster: every key hashes to one.
SLOTS = 16384
#: Most redirections followed for one command before giving up (a slot moving again and again).
MAX_REDIRECTIONS = 5


def slot_of(key: str) -> int:
    """The slot of ``key`` (its hash tag's, when it has one), as ``CLUSTER KEYSLOT`` computes it."""
    return int(key_slot(key.encode()))


class SlotRouter:
    """The primaries of a Redis Cluster by slot, each reached through a :class:`Shard`.

    Args:
        urls: start-up nodes (``redis://host:port/0``): any of them answers ``CLUSTER SLOTS``.
        config: the backend's ``CHANNEL_BACKENDS`` entry (timeouts, pool size), for every node.
    """

    def __init__(self, urls: Sequence[str], config: Mapping[str, Any]) -> None:
        self._config = config
        self._template = urlsplit(urls[0])  # scheme and credentials of every node
        self._start_up = [_address(url) for url in urls]
        self._lock = threading.Lock()
        self._shards: dict[str, Shard] = {}
        self._slots: list[str] = []  # the address serving each slot ("" for none); empty until read
        self._generation = 0
        self._stale = True

    def shard(self, address: str) -> Shard:
        """The :class:`Shard` of the node at ``host:port``, made on first use."""
        shard = self._shards.get(address)
        if shard is None:
            with self._lock:
                shard = self._shard_unlocked(address)
        return shard

    def primaries(self) -> list[Shard]:
        """The nodes that serve slots now."""
        slots = self._map()
        return [self.shard(address) for address in dict.fromkeys(slots) if address]

    def address_of(self, slot: int) -> str:
        """``host:port`` of the primary serving ``slot``."""
        address = self._map()[slot]
        if not address:
            raise BackendUnavailable(f"no node of the Redis Cluster serves slot {slot} now")
        return address

    def route(self, slot: int, talk: Callable[[Shard, bool], T]) -> T:
        """``talk(shard, asking)`` on the node serving ``slot``, following ``MOVED`` and ``ASK``.

        ``talk`` sends its command (after ``ASKING`` when ``asking`` is true)
        and lets redis-py's :exc:`~redis.exceptions.MovedError` and
        :exc:`~redis.exceptions.AskError` out: the command did not run, so
        sending it elsewhere is safe.
        """
        asked = ""
        looked_again = False
        for _ in range(MAX_REDIRECTIONS):
            generation = self._generation
            address = asked or self.address_of(slot)
            try:
                return talk(self.shard(address), bool(asked))
            except NotSent:
                if looked_again:
                    raise
                looked_again = True  # nothing was sent: ask the others where the slot is now
                self.refresh(generation, failed=address)
                asked = ""
            except redis.exceptions.MovedError as moved:
                self.moved(moved.slot_id, f"{moved.host}:{moved.port}")
                asked = ""
            except redis.exceptions.AskError as ask:
                asked = f"{ask.host}:{ask.port}"
            except BackendUnavailable:
                self._stale = True  # a failover, perhaps: read the map again before the next command
                raise
        raise BackendUnavailable(f"slot {slot} of the Redis Cluster kept moving ({MAX_REDIRECTIONS} redirections)")

    def moved(self, slot: int, address: str) -> None:
        """Note that ``slot`` is served at ``address`` now (a ``MOVED`` reply)."""
        slots = self._map()
        if slots[slot] != address:
            with self._lock:
                slots[slot] = address

    def mark_stale(self) -> None:
        """Read the map again before the next command (after a failure that may be a failover)."""
        self._stale = True

    def refresh(self, seen: int | None = None, failed: str = "") -> None:
        """Read the slot map from the first node that answers; the node that ``failed`` is asked last.

        Args:
            seen: the map's generation the caller saw; if another thread has
                read the map since, it is not read again.
        """
        with self._lock:
            if seen is not None and seen != self._generation and not self._stale:
                return
            known = [*dict.fromkeys([*self._slots, *self._start_up, *self._shards])]
            candidates = [address for address in known if address and address != failed]
            candidates += [failed] if failed else []
            problems = []
            for address in candidates:
                try:
                    reply = self._shard_unlocked(address).call("CLUSTER", "SLOTS")
                except BackendUnavailable as error:
                    problems.append(str(error))
                    continue
                self._slots = _slot_table(reply)
                self._generation += 1
                self._stale = False
                return
            raise BackendUnavailable("no node of the Redis Cluster answered CLUSTER SLOTS: " + "; ".join(problems))

    def close(self) -> None:
        for shard in list(self._shards.values()):
            shard.close()

    def _map(self) -> list[str]:
        if self._stale or not self._slots:
            self.refresh(self._generation)
        return self._slots

    def _shard_unlocked(self, address: str) -> Shard:
        shard = self._shards.get(address)
        if shard is None:
            url = urlunsplit(self._template._replace(netloc=_netloc(self._template, address)))
            shard = self._shards[address] = Shard(url, self._config, tell_not_sent=True)
        return shard


def _slot_table(reply: Sequence[Any]) -> list[str]:
    """The address serving each slot, from a ``CLUSTER SLOTS`` reply (``""`` for a slot nobody serves)."""
    slots = [""] * SLOTS
    for first, last, primary, *_ in reply:
        host = primary[0].decode() if isinstance(primary[0], bytes) else str(primary[0])
        address = f"{host}:{int(primary[1])}"
        slots[int(first) : int(last) + 1] = [address] * (int(last) - int(first) + 1)
    return slots


def _address(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}"


def _netloc(template: Any, address: str) -> str:
    """``address`` with the start-up URL's credentials, if it has any."""
    credentials = template.netloc.rpartition("@")[0]
    return f"{credentials}@{address}" if credentials else address
