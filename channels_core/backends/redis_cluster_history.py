"""Group history on the Redis Cluster backend (``GROUP_HISTORY``; see :mod:`channels_core.backends.history`).

As on several Redis shards (:mod:`~channels_core.backends.redis_history`,
which says why), a group's history operations take turns under a lock in
the group's **home**, here its slot: the hash tag ``{<group>}`` puts the
history, its kept messages, its lock and the group's index in one slot
(:mod:`~channels_core.backends.redis_cluster_keys`).

A send: one script in the group's slot takes the lock, numbers and keeps the
message and reads the group's index; the message is delivered as a plain
group send delivers it (one script per queue holding members, pipelined per
node); the lock is given back. That is one round trip more than a plain
group send (which reads the index alone, then delivers).

An add with ``since``: one script in the group's slot takes the lock and
reads what the member missed; one in the member's queue slot adds it and
puts the replay on its queue; one in the group's slot writes the queue into
the group's index and gives the lock back. The index comes last but before
the lock is free, so the next send, which needs the lock, finds the member.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..names import inbox_of
from .history import Position, Recovery, new_epoch
from .redis_history import HistoryLock, delivered_with_position
from .storage import GroupSendResult

if TYPE_CHECKING:
    from .redis_cluster import RedisClusterBackend

__all__ = ["ClusterHistory"]


class ClusterHistory:
    """The history hooks of a :class:`~channels_core.backends.redis_cluster.RedisClusterBackend`."""

    def __init__(self, backend: RedisClusterBackend) -> None:
        self.backend = backend
        self.lock = HistoryLock(backend.socket_timeout)
        self.expiry_ms = int(backend.history_expiry * 1000)

    def position(self, group: str) -> Position:
        history, kept, _ = self.backend.keys.history(group)
        epoch, offset = self.backend._script(
            history, "HISTORY_POSITION", [history, kept], [new_epoch(), self.expiry_ms]
        )
        return Position(group, epoch.decode(), int(offset))

    def send(self, group: str, payload: bytes, size: int) -> GroupSendResult:
        backend = self.backend
        history, kept, lock = backend.keys.history(group)
        keys = [history, kept, lock, backend.keys.group(group)]
        args = [payload, group, new_epoch(), size, self.expiry_ms]
        token, (epoch, offset, queues) = self.lock.take(
            group, lambda token: backend._script(history, "HISTORY_BEGIN_SEND", keys, [token, self.lock.ttl_ms, *args])
        )
        try:
            positioned, position = delivered_with_position(group, payload, epoch, offset)
            result = backend._deliver(group, [queue.decode() for queue in queues], positioned)
            result.position = position.as_dict()
            return result
        finally:
            self.lock.give_back(group, lambda: backend._script(lock, "HISTORY_RELEASE", [lock], [token]))

    def add_since(self, group: str, channel: str, since: Position, size: int) -> Recovery:
        backend = self.backend
        history, kept, lock = backend.keys.history(group)
        args = [since.epoch, since.offset, size]
        token, (covered, *missed) = self.lock.take(
            group,
            lambda token: backend._script(
                history, "HISTORY_BEGIN_ADD", [history, kept, lock], [token, self.lock.ttl_ms, *args]
            ),
        )
        queue = inbox_of(channel)
        members, current, queue_key = (
            backend.keys.members(group, queue),
            backend.keys.current(group, queue),
            backend.keys.queue(queue),
        )
        release_keys: list[str] = [lock]
        release_args: list[Any] = [token]
        try:
            deadline = backend._script(
                members,
                "MEMBER_ADD_REPLAY",
                [members, current, queue_key],
                [channel, queue, backend._group_expiry_ms, int(backend.expiry_for(queue) * 1000), *missed],
            )
            # The member's index entry, written by the release: before the next send can take the lock.
            release_keys.append(backend.keys.group(group))
            release_args += [queue, deadline, backend._group_expiry_ms]
            return Recovery(bool(covered), len(missed))
        finally:
            self.lock.give_back(
                group,
                lambda: backend._script(lock, "HISTORY_RELEASE", release_keys, release_args),
                must_succeed=len(release_keys) > 1,
            )
