"""The Redis backend behind Sentinel: HOSTS entries that name Sentinels, and a worker that follows a failover."""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured

from channels_core.backends import backend_from_config
from channels_core.backends.redis import RedisBackend
from channels_core.backends.redis_sentinel import SentinelURL
from channels_core.decorators import consumer
from channels_core.exceptions import BackendUnavailable
from channels_core.registry import Registry
from channels_core.testing import wait_until
from channels_core.testing.redis_sentinel import RedisSentinels
from channels_core.worker import Worker


def test_a_sentinel_url_names_the_sentinels_the_service_and_the_database() -> None:
    url = SentinelURL.parse("redis+sentinel://:s%40cret@10.0.0.1:26379,sentinel-2:26380/my%20primary/3")
    assert url.sentinels == (("10.0.0.1", 26379), ("sentinel-2", 26380))
    assert (url.service, url.db, url.username, url.password) == ("my primary", 3, None, "s@cret")
    assert SentinelURL.parse("redis+sentinel://127.0.0.1:26379/mymaster").db == 0


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("redis+sentinel://127.0.0.1:26379", "a Sentinel URL is redis+sentinel://host:port"),
        ("redis+sentinel://127.0.0.1:26379/a/b/c", "a Sentinel URL is redis+sentinel://host:port"),
        ("redis+sentinel://127.0.0.1/mymaster/0", "each Sentinel is host:port, not '127.0.0.1'"),
        ("redis+sentinel://127.0.0.1:26379/mymaster/zero", "the database must be a number, not 'zero'"),
    ],
)
def test_a_malformed_sentinel_url_says_what_is_wrong(url: str, complaint: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=re.escape(complaint)):
        backend_from_config({"BACKEND": "channels_core.backends.redis.RedisBackend", "HOSTS": [url]})


@pytest.fixture(scope="module")
def sentinels() -> Iterator[RedisSentinels]:
    with RedisSentinels().start() as started:
        yield started


def make(sentinels: RedisSentinels) -> RedisBackend:
    backend = backend_from_config(
        {
            "BACKEND": "channels_core.backends.redis.RedisBackend",
            "HOSTS": [sentinels.url],
            "PREFIX": "sentinel-test:",
            "CAPACITY": 100_000,  # the worker is away for the failover; the sender goes on
            # Short, so that a call to the dead primary fails fast rather than at the default timeout.
            "SOCKET_TIMEOUT": 2,
            "CONNECT_TIMEOUT": 0.5,
        }
    )
    assert isinstance(backend, RedisBackend)
    return backend


def test_the_backend_reaches_the_primary_the_sentinels_name(sentinels: RedisSentinels) -> None:
    backend = make(sentinels)
    try:
        backend.send("sentinel.hello", {"n": 1})
        with redis.Redis(port=sentinels.primary_port()) as primary:
            assert primary.keys("sentinel-test:*"), "the message is not on the primary the Sentinels name"
        assert backend.receive(["sentinel.hello"], timeout=1) == ("sentinel.hello", {"n": 1})
        backend.group_add("sentinel.group", "!django.websocket.send.srv.a")
        assert backend.group_send("sentinel.group", {"n": 2}).delivered == 1
    finally:
        backend.flush()
        backend.close()


received: list[int] = []


@consumer("sentinel.work")
def record(n: int, **message: object) -> None:
    received.append(n)


def test_a_worker_and_a_sender_follow_the_new_primary_after_a_failover(sentinels: RedisSentinels) -> None:
    """Kill the primary under steady traffic: both sides carry on with the promoted replica, no restart.

    Replication is asynchronous, so what the old primary acknowledged but had
    not yet passed on is lost (at most once still holds); every message sent
    once the new primary serves arrives, and nothing arrives twice.
    """
    received.clear()
    sender_backend, worker_backend = make(sentinels), make(sentinels)
    worker = Worker(worker_backend, Registry([record]), threads=2)
    worker_thread = threading.Thread(target=worker.run, name="sentinel-worker", daemon=True)
    worker_thread.start()
    sent: list[int] = []  # the send returned: stored by the primary of the moment
    refused: list[int] = []  # the send raised BackendUnavailable: stored or not, never retried
    promoted = threading.Event()
    sent_after_promotion: list[int] = []
    stop_sending = threading.Event()

    def send_steadily() -> None:
        n = 0
        while not stop_sending.is_set():
            n += 1
            after = promoted.is_set()
            try:
                sender_backend.send("sentinel.work", {"n": n})
            except BackendUnavailable:
                refused.append(n)
                stop_sending.wait(0.05)  # wait-ok: pacing a producer during the outage, not a wait for a state
                continue
            sent.append(n)
            if after:
                sent_after_promotion.append(n)
            stop_sending.wait(0.005)  # wait-ok: a steady producer's pace

    sender = threading.Thread(target=send_steadily, name="sentinel-sender", daemon=True)
    sender.start()
    try:
        wait_until(lambda: len(received) >= 50, what="traffic through the first primary")
        old = sentinels.kill_primary()
        new = sentinels.wait_for_new_primary(old)
        promoted.set()
        wait_until(lambda: len(sent_after_promotion) >= 100, timeout=60, what="sends through the new primary")
        stop_sending.set()
        sender.join(10)
        wait_until(
            lambda: set(sent_after_promotion) <= set(received), timeout=60, what="the worker to receive them all"
        )
    finally:
        stop_sending.set()
        worker.stop()
        worker_thread.join(15)
        sender_backend.close()
        worker_backend.close()

    duplicates = [n for n, count in Counter(received).items() if count > 1]
    lost = sorted(set(sent) - set(received))
    print(
        f"failover {old} -> {new}: sent {len(sent)}, refused during the failover {len(refused)}, "
        f"lost (acknowledged by the old primary, not replicated) {len(lost)}, received {len(received)}"
    )
    assert duplicates == [], "a message was delivered twice"
    assert not set(sent_after_promotion) - set(received)
    assert not worker_thread.is_alive()
