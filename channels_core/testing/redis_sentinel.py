"""A private Redis with Sentinel for tests: a primary, its replicas and three Sentinels, on free ports.

What the how-to's commands do by hand (``redis-server --replicaof`` for each
replica, ``redis-server sentinel.conf --sentinel`` for each Sentinel), with
what fault tests need on top: kill the primary as a crash would and wait
until the Sentinels have promoted a replica. Sentinels call a primary down
after ``down_after_ms`` (1 s here, 30 s by Redis's default), so a failover
takes a few seconds. Every wait polls a condition until a deadline.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import redis

from .processes import ManagedProcess, free_port, wait_until

__all__ = ["RedisSentinels"]


class RedisSentinels:
    """A primary with ``replicas`` replicas, watched by ``sentinels`` Sentinels as service ``service``.

    Args:
        directory: where the servers keep their logs and the Sentinels their
            configuration, which they rewrite (default: a new temporary
            folder, removed by :meth:`stop`).
        down_after_ms: ``down-after-milliseconds``: how long the primary may not answer before a failover.
    """

    def __init__(
        self,
        directory: Path | None = None,
        replicas: int = 1,
        sentinels: int = 3,
        service: str = "mymaster",
        down_after_ms: int = 1000,
        server: str = "redis-server",
    ) -> None:
        self._own_directory = directory is None
        self.directory = Path(tempfile.mkdtemp(prefix="redis-sentinel-")) if directory is None else directory
        self.replica_count = replicas
        self.sentinel_count = sentinels
        self.service = service
        self.down_after_ms = down_after_ms
        self.server = server
        #: Port of each data server (primary or replica) and its process.
        self.servers: dict[int, ManagedProcess] = {}
        #: Port of each Sentinel and its process.
        self.sentinels: dict[int, ManagedProcess] = {}

    @property
    def url(self) -> str:
        """The backend's ``HOSTS`` entry: ``redis+sentinel://<every Sentinel>/<service>/0``."""
        return f"redis+sentinel://{','.join(f'127.0.0.1:{port}' for port in self.sentinels)}/{self.service}/0"

    def start(self, timeout: float = 30.0) -> RedisSentinels:
        """Start the servers and the Sentinels; wait until every Sentinel knows the primary and its replicas."""
        primary = free_port()
        self._start_server(primary)
        for _ in range(self.replica_count):
            self._start_server(free_port(), "--replicaof", "127.0.0.1", str(primary))
        quorum = self.sentinel_count // 2 + 1
        for _ in range(self.sentinel_count):
            port = free_port()
            config = self.directory / f"sentinel-{port}.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\n"
                f"sentinel monitor {self.service} 127.0.0.1 {primary} {quorum}\n"
                f"sentinel down-after-milliseconds {self.service} {self.down_after_ms}\n"
                f"sentinel failover-timeout {self.service} {max(3 * self.down_after_ms, 2000)}\n"
            )
            command = [self.server, str(config), "--sentinel"]
            self.sentinels[port] = ManagedProcess(command, {}, self.directory / f"sentinel-{port}.log", self.directory)
        wait_until(self._watched, timeout, what="every Sentinel to know the primary and its replicas")
        return self

    def primary_port(self) -> int:
        """The port of the primary, as the first Sentinel that answers names it."""
        for port in self.sentinels:
            try:
                with redis.Redis(port=port, socket_timeout=1) as sentinel:
                    _, primary = sentinel.sentinel_get_master_addr_by_name(self.service)
                    return int(primary)
            except redis.RedisError:
                continue
        raise AssertionError("no Sentinel answers")

    def kill_primary(self) -> int:
        """``kill -9`` the primary, as a crash would; return its port."""
        port = self.primary_port()
        self.servers[port].kill()
        return port

    def wait_for_new_primary(self, old: int, timeout: float = 60.0) -> int:
        """Wait until the Sentinels name a primary other than ``old`` and it accepts writes; return its port."""

        def promoted() -> int | None:
            port = self.primary_port()
            if port == old:
                return None
            try:
                with redis.Redis(port=port, socket_timeout=1) as server:
                    return port if server.info("replication")["role"] == "master" else None
            except redis.RedisError:
                return None

        port = wait_until(promoted, timeout, what=f"a primary other than port {old}")
        assert port is not None  # wait_until returns only a truthy result
        return port

    def stop(self) -> None:
        """Stop every process (by pid); their data is gone, and so is the folder if this set made it."""
        for process in [*self.sentinels.values(), *self.servers.values()]:
            process.stop()
        self.sentinels, self.servers = {}, {}
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> RedisSentinels:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _start_server(self, port: int, *options: str) -> None:
        command = [self.server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.servers[port] = ManagedProcess([*command, *options], {}, self.directory / f"redis-{port}.log")
        wait_until(lambda: _answers(port, self.servers[port]), 10, what=f"redis-server on port {port}")

    def _watched(self) -> bool:
        for port in self.sentinels:
            try:
                with redis.Redis(port=port, socket_timeout=1) as sentinel:
                    state = sentinel.sentinel_master(self.service)
            except redis.RedisError:
                return False
            if state["num-slaves"] < self.replica_count or state["num-other-sentinels"] < len(self.sentinels) - 1:
                return False
        return True


def _answers(port: int, process: ManagedProcess) -> bool:
    if process.process.poll() is not None:
        raise AssertionError(f"redis-server on port {port} exited:\n{process.output()}")
    try:
        with redis.Redis(port=port, socket_connect_timeout=0.5) as client:
            return bool(client.ping())
    except redis.ConnectionError:
        return False
