"""The Redis Cluster backend while the cluster changes under steady traffic: a primary killed, slots moved.

Each test starts a cluster of its own (3 primaries, 3 replicas) and stops it
by pid. A producer thread sends numbered messages to a few channels while a
consumer thread receives them, both through backend objects made once (no
restart). Counts are bounded; every wait has a deadline.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from channels_core.backends import backend_from_config
from channels_core.backends.redis_cluster import RedisClusterBackend
from channels_core.backends.redis_cluster_slots import slot_of
from channels_core.exceptions import BackendUnavailable
from channels_core.testing import RedisCluster, wait_until

CHANNELS = [f"traffic.{n}" for n in range(6)]
#: Messages the producer sends once the change is over; then it stops.
AFTER = 300
#: The most messages the producer sends in all, whatever happens.
MOST = 20_000


def make_backend(cluster: RedisCluster) -> RedisClusterBackend:
    backend = backend_from_config(
        {
            "BACKEND": "channels_core.backends.redis_cluster.RedisClusterBackend",
            "HOSTS": cluster.urls,
            "SOCKET_TIMEOUT": 1,
            "CONNECT_TIMEOUT": 0.5,
            "CAPACITY": MOST,
        }
    )
    assert isinstance(backend, RedisClusterBackend)
    return backend


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[RedisCluster]:
    with RedisCluster(tmp_path / "cluster").start() as cluster:
        yield cluster


@dataclasses.dataclass
class Traffic:
    """A producer and a consumer on a few channels, and what each saw."""

    producer: RedisClusterBackend
    consumer: RedisClusterBackend
    channels: list[str]
    #: Set when the change is over: sends started after it count as "after".
    over: threading.Event = dataclasses.field(default_factory=threading.Event)
    stop: threading.Event = dataclasses.field(default_factory=threading.Event)
    sent_before: list[int] = dataclasses.field(default_factory=list)
    sent_after: list[int] = dataclasses.field(default_factory=list)
    raised_before: list[int] = dataclasses.field(default_factory=list)
    raised_after: list[int] = dataclasses.field(default_factory=list)
    received: list[int] = dataclasses.field(default_factory=list)
    receive_failures: int = 0

    def produce(self) -> None:
        for n in range(MOST):
            after = self.over.is_set()
            if after and len(self.sent_after) + len(self.raised_after) >= AFTER:
                return
            try:
                self.producer.send(self.channels[n % len(self.channels)], {"n": n})
            except BackendUnavailable:
                (self.raised_after if after else self.raised_before).append(n)
            else:
                (self.sent_after if after else self.sent_before).append(n)

    def consume(self) -> None:
        while not self.stop.is_set():
            try:
                received = self.consumer.receive_many(self.channels, timeout=0.2, limit=20)
            except BackendUnavailable:
                self.receive_failures += 1
                continue
            self.received += [message["n"] for _, message in received]

    def run(self, change: Any) -> None:
        """Run the producer and the consumer, make ``change`` once traffic flows, and drain what was sent."""
        threads = [threading.Thread(target=self.produce), threading.Thread(target=self.consume)]
        for thread in threads:
            thread.start()
        try:
            wait_until(lambda: len(self.received) >= 200, timeout=30, what="traffic to flow")
            change()
            self.over.set()
            threads[0].join(120)
            assert not threads[0].is_alive(), "the producer did not finish"
            delivered = set(self.sent_after)
            wait_until(lambda: delivered <= set(self.received), timeout=30, what="every message sent after to arrive")
        finally:
            self.over.set()
            self.stop.set()
            for thread in threads:
                thread.join(30)

    def report(self) -> str:
        lost = set(self.sent_before) - set(self.received)
        return (
            f"sent {len(self.sent_before)} before the cluster was whole again and {len(self.sent_after)} after; "
            f"{len(lost)} sent before were lost (stored on the primary but not replicated, or popped as it died); "
            f"sends that raised BackendUnavailable: {len(self.raised_before)} before, {len(self.raised_after)} after; "
            f"receives that raised: {self.receive_failures}"
        )


def traffic_on(cluster: RedisCluster, channels: list[str] = CHANNELS) -> Traffic:
    producer, consumer = make_backend(cluster), make_backend(cluster)
    producer.flush()
    return Traffic(producer, consumer, channels)


def test_a_killed_primary_is_followed_to_its_promoted_replica(
    cluster: RedisCluster, record_property: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    traffic = traffic_on(cluster)
    victim = cluster.primary_of(traffic.producer.keys.queue(CHANNELS[0]))
    victims_channels = [c for c in CHANNELS if cluster.primary_of(traffic.producer.keys.queue(c)) == victim]

    def kill_and_wait_for_promotion() -> None:
        cluster.kill_primary(victim)
        cluster.wait_until_ok()
        assert victim not in cluster.primaries()
        assert cluster.primary_of(traffic.producer.keys.queue(CHANNELS[0])).alive()

    traffic.run(kill_and_wait_for_promotion)
    report = traffic.report()
    record_property("failover", report)
    with capsys.disabled():
        print(f"\nfailover of {victim} (channels {', '.join(victims_channels)}): {report}")

    duplicates = [n for n, count in Counter(traffic.received).items() if count > 1]
    assert duplicates == []
    assert traffic.raised_after == []
    assert set(traffic.sent_after) <= set(traffic.received)
    assert set(traffic.received) <= set(traffic.sent_before + traffic.sent_after + traffic.raised_before)
    traffic.producer.close()
    traffic.consumer.close()


def test_slots_move_between_primaries_under_traffic(
    cluster: RedisCluster, record_property: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # redis-cli moves a primary's lowest slots first: the first channel is one of them.
    ranges = cluster.slot_ranges()
    keys = make_backend(cluster).keys

    def offset_in_its_range(channel: str) -> int:
        slot = slot_of(keys.queue(channel))
        return next(slot - first for first, last in ranges if first <= slot <= last)

    moving = min((f"traffic.{n}" for n in range(500)), key=offset_in_its_range)
    traffic = traffic_on(cluster, [moving, *CHANNELS[1:]])
    source = cluster.primary_of(keys.queue(moving))
    target = next(node for node in cluster.primaries() if node != source)
    slots = offset_in_its_range(moving) + 200

    def move_slots() -> None:
        cluster.reshard(source, target, slots)

    traffic.run(move_slots)
    report = traffic.report()
    record_property("resharding", report)
    with capsys.disabled():
        print(f"\nresharding {slots} slots from {source} to {target}: {report}")

    assert cluster.primary_of(keys.queue(moving)) == target  # the channel did move, and was followed
    duplicates = [n for n, count in Counter(traffic.received).items() if count > 1]
    assert duplicates == []
    # Moving slots loses nothing: every send that did not raise arrives.
    assert set(traffic.sent_before + traffic.sent_after) <= set(traffic.received)
    assert traffic.raised_after == []
    traffic.producer.close()
    traffic.consumer.close()
