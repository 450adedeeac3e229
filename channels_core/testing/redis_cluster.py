"""A private Redis Cluster for tests: primaries with their replicas, on free ports, in a folder of its own.

What the how-to's commands do by hand (``redis-server --cluster-enabled yes``
on each port, then ``redis-cli --cluster create ... --cluster-replicas 1``),
with what fault tests need on top: kill a primary as a crash would, wait
until a replica has taken over, move slots between primaries. Nodes detect a
dead peer after ``node_timeout_ms`` (1.5 s here, 15 s by Redis's default), so
a failover takes a few seconds. Every wait polls a condition until a deadline.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis

from .processes import ManagedProcess, free_port, wait_until

__all__ = ["ClusterNode", "RedisCluster"]

#: Slots of a Redis Cluster: every key hashes to one of them.
SLOTS = 16384


class ClusterNode:
    """One ``redis-server`` of a :class:`RedisCluster`."""

    def __init__(self, port: int, process: ManagedProcess) -> None:
        self.port = port
        self.process = process

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.process.process.poll() is None

    def client(self) -> redis.Redis:
        """A plain client of this node alone (it answers ``MOVED`` for keys of other nodes); close it when done."""
        return redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=1)

    def __repr__(self) -> str:
        return f"<ClusterNode {self.address}{'' if self.alive() else ' (dead)'}>"


class RedisCluster:
    """``primaries`` Redis primaries with ``replicas`` replicas each, on 127.0.0.1, nothing saved to disk.

    Args:
        directory: where the nodes keep their ``nodes-<port>.conf`` and logs
            (default: a new temporary folder, removed by :meth:`stop`).
        primaries: at least 3, as ``redis-cli --cluster create`` demands.
        replicas: replicas of each primary.
        node_timeout_ms: ``cluster-node-timeout``: how long a node may not answer before it is failed over.
        options: more ``redis-server`` arguments for every node, before this class's own (which win):
            a configuration file, as the compose file's nodes use, or ``--cluster-announce-hostname``.
    """

    def __init__(
        self,
        directory: Path | None = None,
        primaries: int = 3,
        replicas: int = 1,
        node_timeout_ms: int = 1500,
        server: str = "redis-server",
        cli: str = "redis-cli",
        options: Sequence[str] = (),
    ) -> None:
        self._own_directory = directory is None
        self.directory = Path(tempfile.mkdtemp(prefix="redis-cluster-")) if directory is None else directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.primary_count = primaries
        self.replica_count = replicas
        self.node_timeout_ms = node_timeout_ms
        self.server = server
        self.cli = cli
        self.options = list(options)
        self.nodes: list[ClusterNode] = []

    @property
    def urls(self) -> list[str]:
        """Every node's URL, as start-up nodes for ``HOSTS``."""
        return [node.url for node in self.nodes]

    def start(self, timeout: float = 60.0) -> RedisCluster:
        """Start every node, join them into a cluster, and wait until it serves every slot; return it."""
        for _ in range(self.primary_count * (1 + self.replica_count)):
            port = free_port()
            command = [
                self.server,
                *self.options,
                *("--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
                *("--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf"),
                *("--cluster-node-timeout", str(self.node_timeout_ms)),
                # The bus on a free port of its own: by default it is the port + 10000, which may be taken
                # (or over 65535: Redis refuses ports above 55535 then).
                *("--cluster-port", str(free_port())),
                # A replica syncs at once (not 5 s later, waiting for others): one that never synced cannot take over.
                *("--repl-diskless-sync-delay", "0"),
            ]
            process = ManagedProcess(command, {}, self.directory / f"redis-{port}.log", cwd=self.directory)
            self.nodes.append(ClusterNode(port, process))
        for node in self.nodes:
            wait_until(functools.partial(_answers, node), timeout, what=f"cluster node {node.address}")
        self._cli(
            "--cluster",
            "create",
            *(node.address for node in self.nodes),
            "--cluster-replicas",
            str(self.replica_count),
            "--cluster-yes",
        )
        self.wait_until_ok(timeout)
        return self

    def live_nodes(self) -> list[ClusterNode]:
        return [node for node in self.nodes if node.alive()]

    def node(self, port: int) -> ClusterNode:
        return next(node for node in self.nodes if node.port == port)

    def primaries(self) -> list[ClusterNode]:
        """The live nodes that are primaries now and serve slots, as a live node sees it."""
        ports = {port for port, _ in self.slot_ranges().values()}
        return [node for node in self.live_nodes() if node.port in ports]

    def slot_ranges(self) -> dict[tuple[int, int], tuple[int, str]]:
        """``(first slot, last slot)``: ``(port, node id)`` of its primary, as the first live node sees it."""
        with self.live_nodes()[0].client() as client:
            return _slot_ranges(client)

    def primary_of(self, key: str) -> ClusterNode:
        """The node that serves ``key`` now."""
        with self.live_nodes()[0].client() as client:
            slot = int(_cluster(client, "KEYSLOT", key))
            for (first, last), (port, _) in _slot_ranges(client).items():
                if first <= slot <= last:
                    return self.node(port)
        raise AssertionError(f"no node serves slot {slot} of {key!r}")

    def kill_primary(self, node: ClusterNode | None = None) -> ClusterNode:
        """``kill -9`` a primary (the first, unless ``node`` says which), as a crash would; return it.

        Its replica takes over once the others have seen it down for
        ``node_timeout_ms``: wait for that with :meth:`wait_until_ok`.
        """
        victim = node or self.primaries()[0]
        victim.process.kill()
        return victim

    def wait_until_ok(self, timeout: float = 60.0) -> None:
        """Wait until every live node reports ``cluster_state:ok`` and they agree that live primaries serve every slot.

        Every replica must also be in sync with its primary (or it could not
        take over). After :meth:`kill_primary`, the others keep reporting ``ok`` until they
        have seen the victim down: the slots must also be served by live nodes.
        """
        wait_until(lambda: self._settled(), timeout, what="every slot served by a live primary, as every node sees it")

    def _settled(self) -> bool:
        live = {node.port for node in self.live_nodes()}
        views = []
        for node in self.live_nodes():
            try:
                with node.client() as client:
                    if b"cluster_state:ok" not in _cluster(client, "INFO"):
                        return False
                    replication = client.info("replication")
                    if replication["role"] == "slave" and replication["master_link_status"] != "up":
                        return False  # a replica that has not synced cannot take over
                    views.append(_slot_ranges(client))
            except redis.RedisError:
                return False
        served = {port for view in views for port, _ in view.values()}
        covered = all(sum(last - first + 1 for first, last in view) == SLOTS for view in views)
        return covered and served <= live and all(view == views[0] for view in views)

    def reshard(self, source: ClusterNode, target: ClusterNode, slots: int, timeout: float = 120.0) -> None:
        """Move ``slots`` slots and their keys from ``source`` to ``target`` (``redis-cli --cluster reshard``)."""
        ids = {port: node_id for port, node_id in self.slot_ranges().values()}
        self._cli(
            "--cluster",
            "reshard",
            target.address,
            *("--cluster-from", ids[source.port], "--cluster-to", ids[target.port]),
            *("--cluster-slots", str(slots), "--cluster-yes"),
            timeout=timeout,
        )
        self.wait_until_ok(timeout)

    def stop(self) -> None:
        """Stop every node (by pid); their data is gone, and so is the folder if this cluster made it."""
        for node in self.nodes:
            node.process.stop()
        self.nodes = []
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> RedisCluster:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _cli(self, *args: str, timeout: float = 60.0) -> str:
        done = subprocess.run(
            [self.cli, *args], capture_output=True, text=True, timeout=timeout, cwd=self.directory, check=False
        )
        if done.returncode != 0:
            raise AssertionError(f"redis-cli {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        return done.stdout


def _answers(node: ClusterNode) -> bool:
    if not node.alive():
        raise AssertionError(f"cluster node {node.address} exited:\n{node.process.output()}")
    try:
        with node.client() as client:
            return bool(client.ping())
    except redis.ConnectionError:
        return False


def _slot_ranges(client: redis.Redis) -> dict[tuple[int, int], tuple[int, str]]:
    """Each range of slots and its primary's port and id, from ``CLUSTER SLOTS`` as this node sees it."""
    ranges = {}
    for first, last, primary, *_ in _cluster(client, "SLOTS"):
        ranges[(int(first), int(last))] = (int(primary[1]), _text(primary[2]))
    return ranges


def _cluster(client: redis.Redis, *args: str) -> Any:
    """A ``CLUSTER`` subcommand's reply, as the server sent it."""
    return client.execute_command("CLUSTER", *args)  # type: ignore[no-untyped-call]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
