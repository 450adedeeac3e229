"""The Redis Cluster backend: channels on a Redis Cluster, which fails a dead primary over to its replica.

``HOSTS`` names one or more start-up nodes (``redis://host:port/0``); the
backend asks them which primary serves which slot, and follows the cluster as
slots move (resharding) and replicas take over (failover), without a restart.

Key layout
    Every Lua script touches the keys of one slot (a script touching two slots
    fails on a cluster: "Script attempted to access a non local key"). Hash
    tags put a queue and its bookkeeping in the queue's slot, and a group's
    index in the group's slot (``redis_cluster_keys.py``).
    An interface server's clients share its inbox, so it reads all their
    messages from one slot with one call. A group's members are kept next to
    the queue they are stored in, not next to the group: a group send reads
    the group's index (one call), then stores one entry in each queue holding
    members with one script per queue, pipelined per node, so it costs one
    round trip per node that holds members, and member names never travel.
    Adding a member costs two calls (its queue's slot, then the group's index);
    a discarded member leaves the queue in the index until the entry expires.
    A group with a history keeps it in the group's slot, where a lock makes
    its sends and adds with ``since`` take turns (``redis_cluster_history.py``).

Why not redis-py's cluster client
    ``redis.cluster.RedisCluster`` (redis-py 8) retries a command after a
    ``ConnectionError`` or ``TimeoutError`` (up to 10 times by default): a send
    whose reply was lost would be stored twice. ``retry=Retry(NoBackoff(), 0)``
    stops that, but it still re-reads the whole topology inside the failing
    call (one more connect per node tried), sleeps a quarter second inside a
    call that got ``CLUSTERDOWN`` and up to 16 times 50 ms after ``TRYAGAIN``,
    and its per-node pools are not bounded the way ours are (``POOL_SIZE``,
    ``POOL_TIMEOUT``, safe after a fork). So each primary is a
    ``Shard`` (``redis_shard.py``), as in the Redis
    backend, and a ``SlotRouter`` (``redis_cluster_slots.py``)
    keeps the slot map and follows ``MOVED`` and ``ASK``, which are safe: the
    node did not run the command.

What a failover costs
    A command to a primary that died reaches the caller as
    :exc:`~channels_core.exceptions.BackendUnavailable` (and is not retried:
    it may have run). Until a replica is promoted (``cluster-node-timeout``
    and an election, a few seconds), the dead primary's slots give
    ``BackendUnavailable``; the others work. Once promoted, the next command
    finds it. What the old primary had acknowledged but not yet replicated is
    lost: delivery stays at most once, and nothing is delivered twice. While
    slots move, a command on a key being moved may get ``TRYAGAIN``, also
    ``BackendUnavailable``, and a group send's script whose member snapshot is
    already on the other node too.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import redis

from .. import defaults
from ..exceptions import BackendUnavailable, ChannelsError
from ..names import inbox_of
from .base import BaseBackend
from .history import HistoryKeptByStore
from .redis_cluster_history import ClusterHistory
from .redis_cluster_keys import ClusterKeys
from .redis_cluster_slots import SlotRouter, slot_of
from .redis_entries import live_entries, pop_in_turn, send_batches, snapshots_named, written_out
from .redis_shard import NotSent, Shard
from .storage import Entry, GroupSendResult

__all__ = ["RedisClusterBackend"]

#: A script call: the key whose slot it runs in, the script's name, its keys and its arguments.
Call = tuple[str, str, Sequence[Any], Sequence[Any]]


class RedisClusterBackend(HistoryKeptByStore, BaseBackend):
    """Channels and groups on a Redis Cluster (7.0 or newer).

    ``CHANNEL_BACKENDS`` keys as for :class:`~channels_core.backends.redis.RedisBackend`:
    ``HOSTS`` (start-up nodes; any one that answers is enough), ``PREFIX``
    (no braces), ``SOCKET_TIMEOUT``, ``CONNECT_TIMEOUT``, ``POOL_SIZE`` and
    ``POOL_TIMEOUT`` (for each primary).
    """

    def __init__(self, config: Mapping[str, Any], alias: str = defaults.DEFAULT_ALIAS) -> None:
        super().__init__(config, alias)
        hosts = list(config.get("HOSTS") or ["redis://127.0.0.1:6379/0"])
        self.keys = ClusterKeys(config.get("PREFIX", "channels:"))
        self.router = SlotRouter(hosts, config)
        self.socket_timeout = float(config.get("SOCKET_TIMEOUT", defaults.REDIS_SOCKET_TIMEOUT))
        self._group_expiry_ms = _ms(self.group_expiry)
        self._rotation = itertools.count()
        self.history_store = ClusterHistory(self)

    # Messages.

    def _push(self, queue: str, channels: Sequence[str], payload: bytes, capacity: int) -> bool:
        key = self.keys.queue(queue)
        (stored,) = self._script(key, "SEND", [key], self._send_args(queue, channels, payload, capacity))
        return bool(stored)

    def _send_args(self, queue: str, channels: Sequence[str], payload: bytes, capacity: int) -> list[Any]:
        (channel,) = channels  # group sends have their own script
        return [channel, payload, capacity, _ms(self.expiry_for(queue))]

    def _push_many(self, pushes: Sequence[tuple[str, Sequence[str], bytes, int]]) -> list[bool | ChannelsError]:
        """Messages of one slot in batches of one ``SEND`` each; the batches pipelined per node."""
        by_slot: dict[int, list[int]] = {}
        for index, (queue, _, _, _) in enumerate(pushes):
            by_slot.setdefault(slot_of(self.keys.queue(queue)), []).append(index)
        batches = [
            batch
            for indexes in by_slot.values()
            for batch in send_batches(indexes, [len(pushes[i][2]) for i in indexes])
        ]
        calls: list[Call] = []
        for batch in batches:
            keys = [self.keys.queue(pushes[i][0]) for i in batch]
            args = [arg for i in batch for arg in self._send_args(*pushes[i])]
            calls.append((keys[0], "SEND", keys, args))
        results: list[bool | ChannelsError] = [False] * len(pushes)
        for batch, reply in zip(batches, self._run_pipelined(calls), strict=True):
            for position, index in enumerate(batch):
                results[index] = reply if isinstance(reply, BackendUnavailable) else bool(reply[position])
        return results

    def _pop(self, queues: list[str], timeout: float, limit: int) -> list[Entry]:
        by_slot: dict[int, list[str]] = {}
        for queue in queues:
            key = self.keys.queue(queue)
            by_slot.setdefault(slot_of(key), []).append(key)
        return pop_in_turn(
            list(by_slot.items()),
            next(self._rotation),
            timeout,
            self.socket_timeout / 2,
            lambda slot, keys, wait: self._take(slot, keys, limit, wait),
            holding=self._holding_entries,
        )

    def _holding_entries(self, listens: list[tuple[int, list[str]]]) -> list[tuple[int, list[str]]]:
        """The ``(slot, keys)`` of ``listens`` whose queues hold entries, by one ``LLEN`` per queue pipelined per node.

        A queue that has moved counts as holding some: :meth:`_take` follows it.
        """
        if len(listens) == 1:
            return listens
        by_address: dict[str, list[int]] = {}
        for index, (slot, _) in enumerate(listens):
            by_address.setdefault(self.router.address_of(slot), []).append(index)
        holding = set()
        for address, indexes in by_address.items():
            commands = [("LLEN", key) for i in indexes for key in listens[i][1]]
            try:
                replies = iter(self.router.shard(address).call_many(commands))
            except BackendUnavailable:
                self.router.mark_stale()
                raise
            for i in indexes:
                lengths = [next(replies) for _ in listens[i][1]]
                if any(isinstance(length, redis.RedisError) or length for length in lengths):
                    holding.add(i)
        return [listen for index, listen in enumerate(listens) if index in holding]

    def _take(self, slot: int, keys: list[str], limit: int, wait: float | None) -> list[Entry]:
        """Pop up to ``limit`` live entries from the first of ``keys`` (one slot) holding any, waiting ``wait`` s."""
        pop: tuple[Any, ...] = ("LMPOP", len(keys), *keys) if wait is None else ("BLMPOP", wait, len(keys), *keys)
        while True:
            shard, popped = self.router.route(slot, functools.partial(_popped, (*pop, "LEFT", "COUNT", limit)))
            if popped is None:
                return []
            queue, entries = self.keys.queue_of(popped[0].decode()), popped[1]
            alive = live_entries(entries, shard.server_ms(), queue, self.expiry_for(queue))
            if alive or len(entries) < limit:
                return self._with_members(queue, alive)
            pop = ("LMPOP", len(keys), *keys)  # all of them had expired: look again, without waiting

    def _with_members(self, queue: str, entries: list[Entry]) -> list[Entry]:
        """Write out the members each group-send entry names, with one ``MGET`` in the queue's slot."""
        snapshots = snapshots_named(entries)
        if not snapshots:
            return entries
        prefix = self.keys.snapshots(queue)
        command = ("MGET", *(prefix + snapshot for snapshot in snapshots))
        found = self.router.route(slot_of(prefix), lambda shard, asking: _send(shard, command, asking))
        return written_out(entries, dict(zip(snapshots, found, strict=True)))

    # Groups: members next to their queue, the group's index in the group's slot.

    def _group_add(self, group: str, channel: str) -> None:
        queue = inbox_of(channel)
        members, current = self.keys.members(group, queue), self.keys.current(group, queue)
        deadline = self._script(members, "MEMBER_ADD", [members, current], [channel, self._group_expiry_ms])
        index = self.keys.group(group)
        commands = [("ZADD", index, "GT", deadline, queue), ("PEXPIRE", index, self._group_expiry_ms)]
        self.router.route(slot_of(index), lambda shard, asking: _send_all(shard, commands, asking))

    def _group_discard(self, group: str, channel: str) -> None:
        queue = inbox_of(channel)
        members, current = self.keys.members(group, queue), self.keys.current(group, queue)
        self._script(members, "MEMBER_DISCARD", [members, current], [channel])

    def _group_queues(self, group: str) -> list[str]:
        index = self.keys.group(group)
        return [queue.decode() for queue in self._script(index, "GROUP_QUEUES", [index], [])]

    def _group_channels(self, group: str) -> list[str]:
        queues = self._group_queues(group)
        calls: list[Call] = []
        for queue in queues:
            members, current = self.keys.members(group, queue), self.keys.current(group, queue)
            calls.append((members, "QUEUE_MEMBERS", [members, current], []))
        found: list[str] = []
        for reply in self._run_pipelined(calls):
            if isinstance(reply, BackendUnavailable):
                raise reply
            found += [member.decode() for member in reply]
        return found

    def _group_send(self, group: str, payload: bytes) -> GroupSendResult:
        return self._deliver(group, self._group_queues(group), payload)

    def _deliver(self, group: str, queues: Sequence[str], payload: bytes) -> GroupSendResult:
        """One script per queue holding members, pipelined per node.

        Raises:
            BackendUnavailable: a node holding members could not be reached (the others got the message).
        """
        calls: list[Call] = []
        for queue in queues:
            key = self.keys.queue(queue)
            keys = [key, self.keys.members(group, queue), self.keys.current(group, queue)]
            args = [self.keys.snapshots(queue), payload, self.capacity_for(queue), _ms(self.expiry_for(queue))]
            calls.append((key, "QUEUE_GROUP_SEND", keys, args))
        result = GroupSendResult()
        failures: list[BackendUnavailable] = []
        for reply in self._run_pipelined(calls):
            if isinstance(reply, BackendUnavailable):
                failures.append(reply)
            else:
                result.add(GroupSendResult(*reply))
        if failures:
            raise BackendUnavailable(
                f"group {group!r}: {len(failures)} of {len(calls)} queue(s) holding members could not be reached "
                f"({failures[0]}); delivered to {result.delivered} member(s) elsewhere"
            )
        return result

    # Scripts, one slot each.

    def _script(self, slot_key: str, script: str, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """Run one of the backend's scripts on the node serving ``slot_key``'s slot."""
        return self.router.route(slot_of(slot_key), lambda shard, asking: _run(shard, script, keys, args, asking))

    def _run_pipelined(self, calls: Sequence[Call]) -> list[Any]:
        """Run each call, in one round trip per node; a call's reply, or the :exc:`BackendUnavailable` it met.

        A call its node refused as not its own (``MOVED``, ``ASK``: it did not
        run) is sent again alone, where the cluster says. So is every call of a
        node that could not be reached before anything was sent.
        """
        replies: list[Any] = [None] * len(calls)
        by_address: dict[str, list[int]] = {}
        try:
            for index, call in enumerate(calls):
                by_address.setdefault(self.router.address_of(slot_of(call[0])), []).append(index)
        except BackendUnavailable as error:
            return [error] * len(calls)
        again: list[int] = []
        for address, indexes in by_address.items():
            shard = self.router.shard(address)
            try:
                node_replies = _run_many(shard, [calls[i] for i in indexes])
            except NotSent:
                again += indexes
                continue
            except BackendUnavailable as error:
                self.router.mark_stale()
                node_replies = [error] * len(indexes)
            for index, reply in zip(indexes, node_replies, strict=True):
                if isinstance(reply, (redis.exceptions.MovedError, redis.exceptions.AskError)):
                    again.append(index)
                else:
                    replies[index] = reply
        for index in again:
            try:
                replies[index] = self._script(*calls[index])
            except BackendUnavailable as error:
                replies[index] = error
        return replies

    def flush(self) -> None:
        for shard in self.router.primaries():
            cursor = 0
            while True:
                cursor, keys = shard.call("SCAN", cursor, "MATCH", self.keys.pattern(), "COUNT", 1000)
                if keys:  # one UNLINK per key: the keys of one call must share a slot
                    shard.call_many([("UNLINK", key) for key in keys])
                if int(cursor) == 0:
                    break

    def close(self) -> None:
        self.router.close()


def _send(shard: Shard, command: Sequence[Any], asking: bool) -> Any:
    """Send one command (after ``ASKING`` when redirected by ``ASK``) and return its reply."""
    if not asking:
        return shard.call(*command)
    return _reply(shard.call_many([("ASKING",), command])[1])


def _popped(command: Sequence[Any], shard: Shard, asking: bool) -> tuple[Shard, Any]:
    """What a pop took, and from which node (whose clock says which entries have expired)."""
    return shard, _send(shard, command, asking)


def _send_all(shard: Shard, commands: Sequence[Sequence[Any]], asking: bool) -> list[Any]:
    """Send several commands in one round trip (each after ``ASKING`` when redirected) and return their replies."""
    if asking:
        replies = shard.call_many([command for pair in commands for command in (("ASKING",), pair)])[1::2]
    else:
        replies = shard.call_many(commands)
    return [_reply(reply) for reply in replies]


def _run(shard: Shard, script: str, keys: Sequence[Any], args: Sequence[Any], asking: bool) -> Any:
    """Run a script, loading it first if the node lacks it (a script that was not there did not run)."""
    command = ("EVALSHA", shard.shas[script], len(keys), *keys, *args)
    try:
        return _send(shard, command, asking)
    except redis.exceptions.NoScriptError:
        shard.call("SCRIPT", "LOAD", shard.scripts[script])
        return _send(shard, command, asking)
    except (redis.exceptions.MovedError, redis.exceptions.AskError):
        raise  # the router follows them
    except redis.ResponseError as error:
        if (refusal := _refusal(error)) is error:
            raise
        raise refusal from error


def _run_many(shard: Shard, calls: Sequence[Call]) -> list[Any]:
    """Run scripts in one round trip (two if the node lacks some); each reply, or the error it met."""
    commands = [("EVALSHA", shard.shas[script], len(keys), *keys, *args) for _, script, keys, args in calls]
    replies = shard.call_many(commands)
    missing = [i for i, reply in enumerate(replies) if isinstance(reply, redis.exceptions.NoScriptError)]
    if missing:
        for script in {calls[i][1] for i in missing}:
            shard.call("SCRIPT", "LOAD", shard.scripts[script])
        for i, reply in zip(missing, shard.call_many([commands[i] for i in missing]), strict=True):
            replies[i] = reply
    redirections = (redis.exceptions.MovedError, redis.exceptions.AskError, BackendUnavailable)
    for i, reply in enumerate(replies):
        if isinstance(reply, redis.ResponseError) and not isinstance(reply, redirections):
            replies[i] = _refusal(reply)
    return replies


def _reply(reply: Any) -> Any:
    if isinstance(reply, Exception):
        raise reply
    return reply


def _refusal(error: redis.ResponseError) -> Exception:
    """A slot on the move, as a script sees it, is an outage (``BackendUnavailable``); other errors stay."""
    if "non local key" in str(error):
        return BackendUnavailable(f"a slot of the Redis Cluster is being moved: {error}")
    return error


def _ms(seconds: float) -> int:
    return int(seconds * 1000)
