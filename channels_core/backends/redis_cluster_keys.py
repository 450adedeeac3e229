"""The key names of the Redis Cluster backend: each queue and everything a script touches with it share a slot.

Redis Cluster hashes a key's *hash tag* (the text between its first ``{`` and
the next ``}``) instead of the whole key, so keys with one tag live in one
slot, on one node, and a Lua script may touch them together. Under the
backend's prefix ``P``:

``Pq:{<queue>}``
    the queue (a channel's, or an interface server's inbox, which holds all
    its clients' response channels).
``Pm:{<queue>}:<group>``, ``Pc:{<queue>}:<group>``, ``Ps:{<queue>}:<id>``
    the group's members stored in that queue, the id of their current
    snapshot, and the snapshots group-send entries name: next to the queue,
    so one script stores a group message in a queue for all its members
    there, and the reader writes the snapshots out from the same slot.
``Pg:{<group>}``
    the group's index: the queues that hold its members (scored by their
    latest expiry). A group send reads it, then runs one script per queue,
    pipelined per node.
``Ph:{<group>}``, ``Phl:{<group>}``, ``Phlock:{<group>}``
    a group's history (``GROUP_HISTORY``): its epoch and offset, its kept
    messages and its lock (``redis_history_lua.py``), in the group's slot
    next to its index, so that one script takes the lock, numbers a
    message and reads the queues to deliver it to.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

__all__ = ["ClusterKeys"]


class ClusterKeys:
    """The names of the Redis Cluster backend's keys under ``prefix``."""

    def __init__(self, prefix: str) -> None:
        if "{" in prefix or "}" in prefix:
            raise ImproperlyConfigured(
                f"the Redis Cluster backend's PREFIX {prefix!r} may not contain braces: "
                "they would make the hash tags that keep each queue's keys in one slot"
            )
        self.prefix = prefix

    def queue(self, queue: str) -> str:
        return f"{self.prefix}q:{{{queue}}}"

    def queue_of(self, key: str) -> str:
        """The queue whose key is ``key`` (as ``LMPOP`` names it)."""
        return key[len(self.prefix) + 3 : -1]

    def members(self, group: str, queue: str) -> str:
        return f"{self.prefix}m:{{{queue}}}:{group}"

    def current(self, group: str, queue: str) -> str:
        return f"{self.prefix}c:{{{queue}}}:{group}"

    def snapshots(self, queue: str) -> str:
        """The prefix of the member snapshots of ``queue``'s group-send entries (the id follows)."""
        return f"{self.prefix}s:{{{queue}}}:"

    def group(self, group: str) -> str:
        return f"{self.prefix}g:{{{group}}}"

    def history(self, group: str) -> list[str]:
        """The keys of ``group``'s history: its epoch and offset, its kept messages, its lock."""
        return [f"{self.prefix}h:{{{group}}}", f"{self.prefix}hl:{{{group}}}", f"{self.prefix}hlock:{{{group}}}"]

    def pattern(self) -> str:
        """A ``SCAN MATCH`` pattern for every key of the backend."""
        return f"{self.prefix}*"
