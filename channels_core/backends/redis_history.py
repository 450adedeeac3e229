"""Group history on the Redis backend (``GROUP_HISTORY``; see :mod:`channels_core.backends.history`).

The keys and scripts are :mod:`~channels_core.backends.redis_history_lua`'s.

One Redis
    Each operation is one script, so one atomic step: a send numbers the
    message, keeps it and delivers it (the plain group send's Lua, called
    from the script); an add with ``since`` adds the member and puts what it
    missed on its queue. No send can come between.

Several shards (and Redis Cluster, :mod:`~channels_core.backends.redis_cluster_history`)
    A group's members live on the shards of their queues, so a send touches
    every shard, and one script cannot: nothing makes the history's step on
    one server and the deliveries on the others one atomic step. Without
    that, a member joining between a send's numbering and its delivery gets
    the message twice (replayed, then live) or never. So a group's history
    operations take turns, under a **lock** in the group's **home** (the shard
    the hash ring gives the group's name), where its history lives too. A
    send: takes the lock and numbers and keeps the message (one script); delivers
    it as a plain group send does (one script per shard); gives the lock back.
    An add with ``since``: takes the lock and reads what the member missed; adds
    the member with that replay on its queue's shard (one script); gives the
    lock back.

    The cost: three round trips where one Redis needs one, and one group's
    sends take turns across every process (other groups are not slowed). A
    busy lock is tried again after short pauses (1 ms, doubling to 20 ms).
    The lock is a random token with a TTL of twice the socket timeout, so
    a holder that crashed frees it by itself; a waiter that saw it busy for
    that long gets :exc:`~channels_core.exceptions.BackendUnavailable` naming
    the group. A holder that crashed after numbering a message lost it for
    the members (at most once); it is in the history, so members that come
    back with ``since`` get it.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from ..exceptions import BackendUnavailable
from ..messages import with_position
from .history import Position, Recovery, new_epoch
from .storage import GroupSendResult

if TYPE_CHECKING:
    from .redis import RedisBackend
    from .redis_shard import Shard

__all__ = ["LOCK_PAUSE_FIRST", "LOCK_PAUSE_MOST", "HistoryLock", "RedisHistory", "delivered_with_position"]

T = TypeVar("T")

logger = logging.getLogger("channels_core.backends")

#: The first pause after finding a group's history lock busy, in seconds; each next one doubles.
LOCK_PAUSE_FIRST = 0.001
#: The longest pause between two tries of a busy lock.
LOCK_PAUSE_MOST = 0.02


class HistoryLock:
    """How a process takes and gives back groups' history locks (several shards, or a cluster).

    Args:
        socket_timeout: the backend's; the lock's TTL is twice that, so
            that a holder's few commands end well before it expires.
    """

    def __init__(self, socket_timeout: float) -> None:
        self.ttl = 2 * socket_timeout
        self.ttl_ms = max(1, int(self.ttl * 1000))

    def take(self, group: str, attempt: Callable[[str], T | None]) -> tuple[str, T]:
        """Run ``attempt(token)`` (a script taking the lock first) until the lock was free; its token and reply.

        ``attempt`` returns ``None`` when the lock was held: its script then did
        nothing, so running it again is safe (no other command of the Redis
        backends is ever tried twice).

        Raises:
            BackendUnavailable: the lock stayed busy for its whole TTL.
        """
        token = secrets.token_hex(8)
        deadline = time.monotonic() + self.ttl
        pause = LOCK_PAUSE_FIRST
        while True:
            started = time.monotonic()
            reply = attempt(token)
            if reply is not None:
                return token, reply
            if started >= deadline:  # a crashed holder's lock had expired by this try
                raise BackendUnavailable(
                    f"another process holds the history lock of group {group!r} (busy for {self.ttl:.1f} s, "
                    "its TTL): the group's sends and adds with since take turns"
                )
            time.sleep(pause)
            pause = min(2 * pause, LOCK_PAUSE_MOST)

    def give_back(self, group: str, release: Callable[[], int], must_succeed: bool = False) -> None:
        """Run ``release()`` (the release script).

        A failure is logged, and the lock frees itself when its TTL ends,
        unless the release did work that ``must_succeed`` (a Redis Cluster
        member's index entry): then it is raised, as a plain add raises it.
        """
        try:
            released = release()
        except BackendUnavailable as error:
            if must_succeed:
                raise
            logger.warning(
                "group %r: could not give its history lock back (%s); it frees itself within %.1f s",
                group,
                error,
                self.ttl,
            )
            return
        if not released:
            logger.warning(
                "group %r: its history lock expired (%.1f s) before the operation holding it ended; "
                "that operation and the next may have overlapped",
                group,
                self.ttl,
            )


def delivered_with_position(group: str, payload: bytes, epoch: bytes, offset: int) -> tuple[bytes, Position]:
    """The payload a locked send delivers (the same bytes as the history keeps, made in Lua), and its position."""
    position = Position(group, epoch.decode(), int(offset))
    return with_position(payload, position.as_dict()), position


class RedisHistory:
    """The history hooks of a :class:`~channels_core.backends.redis.RedisBackend`: one script, or a lock."""

    def __init__(self, backend: RedisBackend) -> None:
        self.backend = backend
        self.lock = HistoryLock(backend.shards[0].socket_timeout)
        self.expiry_ms = int(backend.history_expiry * 1000)

    def _keys(self, group: str) -> list[str]:
        """The history, its kept messages, its lock."""
        prefix = self.backend.prefix
        return [f"{prefix}h:{group}", f"{prefix}hl:{group}", f"{prefix}hlock:{group}"]

    def _home(self, group: str) -> Shard:
        """The shard holding the group's history and lock: the hash ring's for the group's name."""
        return self.backend.shards[self.backend.ring.shard_of(group)]

    def position(self, group: str) -> Position:
        epoch, offset = self._home(group).run("HISTORY_POSITION", self._keys(group)[:2], [new_epoch(), self.expiry_ms])
        return Position(group, epoch.decode(), int(offset))

    def send(self, group: str, payload: bytes, size: int) -> GroupSendResult:
        backend = self.backend
        keys = self._keys(group)
        history_args = [payload, group, new_epoch(), size, self.expiry_ms]
        if len(backend.shards) == 1:
            index = f"{backend.prefix}g:{group}"
            settings = backend._group_send_settings(group)
            reply = backend.shards[0].run("HISTORY_SEND", [index, *keys[:2]], [*history_args, *settings])
            delivered, skipped, epoch, offset = reply
            result = GroupSendResult(delivered, skipped)
            result.position = Position(group, epoch.decode(), int(offset)).as_dict()
            return result
        home = self._home(group)
        token, (epoch, offset, _) = self.lock.take(
            group, lambda token: home.run("HISTORY_BEGIN_SEND", keys, [token, self.lock.ttl_ms, *history_args])
        )
        try:
            positioned, position = delivered_with_position(group, payload, epoch, offset)
            result = backend._group_send(group, positioned)
            result.position = position.as_dict()
            return result
        finally:
            self.lock.give_back(group, lambda: home.run("HISTORY_RELEASE", keys[2:], [token]))

    def add_since(self, group: str, channel: str, since: Position, size: int) -> Recovery:
        backend = self.backend
        shard, member_keys, queue = backend._group_keys(group, channel)
        index, members, current = member_keys
        queue_key, queue_expiry = f"{backend.prefix}q:{queue}", int(backend.expiry_for(queue) * 1000)
        keys = self._keys(group)
        if len(backend.shards) == 1:
            recovered, replayed = shard.run(
                "HISTORY_ADD_SINCE",
                [*member_keys, *keys[:2], queue_key],
                [channel, queue, backend._group_expiry_ms, since.epoch, since.offset, size, queue_expiry],
            )
            return Recovery(bool(recovered), int(replayed))
        home = self._home(group)
        begin_args = [since.epoch, since.offset, size]
        token, (covered, *missed) = self.lock.take(
            group, lambda token: home.run("HISTORY_BEGIN_ADD", keys, [token, self.lock.ttl_ms, *begin_args])
        )
        try:
            shard.run(
                "MEMBER_ADD_REPLAY",
                [members, current, queue_key, index],
                [channel, queue, backend._group_expiry_ms, queue_expiry, *missed],
            )
            return Recovery(bool(covered), len(missed))
        finally:
            self.lock.give_back(group, lambda: home.run("HISTORY_RELEASE", keys[2:], [token]))
