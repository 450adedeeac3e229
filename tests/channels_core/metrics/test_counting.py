"""What the backends, the worker and the WSGI adapter count, read back from this process's registry.

Counters only grow, so each test reads them before and after (:class:`Delta`).
The Prometheus server's view of a whole stack is in
``tests/channels_core/test_metrics_prometheus.py``.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from channels_core import metrics
from channels_core.backends import BaseBackend
from channels_core.decorators import consumer
from channels_core.exceptions import ChannelFull
from channels_core.interfaces.wsgi import WsgiAdapter
from channels_core.metrics.labels import BoundedLabels
from channels_core.names import new_channel_name
from channels_core.registry import Registry
from channels_core.testing import wait_until
from channels_core.worker import Worker

#: The backends whose expired messages are counted here; Redis counts them inside its pop (see test_redis_*).
COUNTING_BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("database-sqlite", id="database-sqlite", marks=pytest.mark.django_db(transaction=True)),
]


@pytest.fixture(autouse=True)
def fresh_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Labels as in a new process: over a whole test run, the process sees more than 100 channel names,
    and past those every new name is labelled ``other``, as it would be on a site."""
    monkeypatch.setattr(metrics, "channel_label", BoundedLabels())
    monkeypatch.setattr(metrics, "_group_label", BoundedLabels())


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Delta:
    """How much samples grew since it was made."""

    def __init__(self, *samples: tuple[str, dict[str, str]]) -> None:
        self.start = {(name, tuple(sorted(labels.items()))): value(name, **labels) for name, labels in samples}

    def __call__(self, name: str, labels: dict[str, str] | None = None, **more: str) -> float:
        labels = {**(labels or {}), **more}
        return value(name, **labels) - self.start[(name, tuple(sorted(labels.items())))]


def sent(channel: str) -> tuple[str, dict[str, str]]:
    return "channels_messages_sent_total", {"channel": channel}


def received(channel: str) -> tuple[str, dict[str, str]]:
    return "channels_messages_received_total", {"channel": channel}


def dropped(reason: str, channel: str) -> tuple[str, dict[str, str]]:
    return "channels_messages_dropped_total", {"reason": reason, "channel": channel}


def full(channel: str) -> tuple[str, dict[str, str]]:
    return "channels_channel_full_total", {"channel": channel}


def waits(channel: str) -> tuple[str, dict[str, str]]:
    return "channels_message_wait_seconds_count", {"channel": channel}


@pytest.mark.parametrize("backend_kind", [*COUNTING_BACKENDS, "redis", "redis-cluster"])
def test_sends_receives_refusals_and_waits_are_counted(make_backend: Callable[..., BaseBackend]) -> None:
    backend = make_backend(CHANNEL_CAPACITY={"count.full": 2})
    server = new_channel_name("!django.websocket.send")
    delta = Delta(
        sent("count.jobs"), received("count.jobs"), full("count.full"), sent("count.full"), waits("count.jobs"),
        sent("!django.websocket.send"), received("!django.websocket.send"),
    )  # fmt: skip
    for n in range(3):
        backend.send("count.jobs", {"n": n})
    assert backend.send_many([("count.full", {}), ("count.full", {}), ("count.full", {})])[2] is not None
    with pytest.raises(ChannelFull):
        backend.send("count.full", {})
    backend.send_many([(new_channel_name(server), {"text": "a"}), (new_channel_name(server), {"text": "b"})])
    assert len(backend.receive_many(["count.jobs"], timeout=1, limit=10)) == 3
    assert len(backend.receive_inbox(server, timeout=1)) == 2
    assert delta(*sent("count.jobs")) == 3
    assert delta(*received("count.jobs")) == 3
    assert delta(*waits("count.jobs")) == 3
    assert delta(*sent("count.full")) == 2
    assert delta(*full("count.full")) == 2
    assert delta(*sent("!django.websocket.send")) == 2
    assert delta(*received("!django.websocket.send")) == 2


@pytest.mark.parametrize("backend_kind", COUNTING_BACKENDS)
def test_expired_messages_are_counted_as_dropped_once(
    make_backend: Callable[..., BaseBackend], caplog: pytest.LogCaptureFixture
) -> None:
    backend = make_backend(CHANNEL_EXPIRY={"count.short": 0.2})
    delta = Delta(dropped("expired", "count.short"), received("count.short"))
    for n in range(4):
        backend.send("count.short", {"n": n})

    def all_expired() -> bool:
        # Both backends sweep their expired messages as they store others (at most once a second).
        backend.send("count.other", {})
        backend.receive(["count.other"])
        return delta(*dropped("expired", "count.short")) == 4

    with caplog.at_level(logging.WARNING, "channels_core.drops"):
        wait_until(all_expired, 10, what="the expired messages to be counted")
        backend.send("count.other", {})
        assert backend.receive(["count.short"]) is None
    assert delta(*dropped("expired", "count.short")) == 4
    assert delta(*received("count.short")) == 0
    assert "message dropped: reason=expired channel=count.short" in caplog.text


@pytest.mark.parametrize("backend_kind", ["redis", "redis-cluster"])
def test_redis_counts_the_expired_messages_a_receive_finds(make_backend: Callable[..., BaseBackend]) -> None:
    """Redis reclaims a queue nobody touches with its key's TTL, uncounted; a receive counts what it skips.

    The short-lived messages are sent through a backend configured with a short expiry, and one
    more through one with the usual expiry, which keeps the queue's key alive past theirs.
    """
    short, usual = make_backend(CHANNEL_EXPIRY={"count.short": 0.2}), make_backend()
    delta = Delta(dropped("expired", "count.short"), received("count.short"))
    for n in range(4):
        short.send("count.short", {"n": n})
    expires = time.monotonic() + 0.2
    usual.send("count.short", {"n": "live"})
    wait_until(lambda: time.monotonic() > expires + 0.05, 5, what="the short-lived messages to expire")
    assert usual.receive(["count.short"]) == ("count.short", {"n": "live"})
    assert delta(*dropped("expired", "count.short")) == 4
    assert delta(*received("count.short")) == 1


def test_a_group_send_counts_its_copies_and_the_members_it_skipped(memory_backend: BaseBackend) -> None:
    members = [new_channel_name("!count.a"), new_channel_name("!count.b")]
    for member in members:
        memory_backend.group_add("count-group", member)
    for _ in range(memory_backend.capacity_for("!count.a")):  # member a's inbox is full
        memory_backend.send(new_channel_name("!count.a"), {})
    delta = Delta(
        ("channels_group_sends_total", {}), ("channels_group_deliveries_total", {}),
        dropped("full", "group:count-group"),
    )  # fmt: skip
    result = memory_backend.group_send("count-group", {"text": "hi"})
    assert (result.delivered, result.skipped) == (1, 1)
    assert delta("channels_group_sends_total") == 1
    assert delta("channels_group_deliveries_total") == 1
    assert delta(*dropped("full", "group:count-group")) == 1


calls: list[str] = []


@consumer("count.fails")
def fails(**kwargs: Any) -> None:
    raise RuntimeError("counted")


@consumer("count.works")
def works(**kwargs: Any) -> None:
    calls.append("works")


def test_the_worker_counts_consumer_errors_unclaimed_messages_and_consumer_time(memory_backend: BaseBackend) -> None:
    worker = Worker(memory_backend, Registry([fails, works]))
    delta = Delta(
        dropped("consumer_error", "count.fails"), dropped("no_consumer", "django.websocket.connect"),
        ("channels_consumer_seconds_count", {"channel": "count.works"}),
        ("channels_consumer_seconds_count", {"channel": "count.fails"}),
    )  # fmt: skip
    worker.handle("count.fails", {})
    worker.handle("count.works", {})
    worker.handle("count.works", {})
    worker.handle("django.websocket.connect", {"path": "/nobody/", "send_channel": new_channel_name("!x.y")})
    assert delta(*dropped("consumer_error", "count.fails")) == 1
    assert delta(*dropped("no_consumer", "django.websocket.connect")) == 1
    assert delta("channels_consumer_seconds_count", channel="count.works") == 2
    assert delta("channels_consumer_seconds_count", channel="count.fails") == 1


def test_turned_off_nothing_is_counted_but_drops_are_still_logged(
    memory_backend: BaseBackend, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.CHANNELS_METRICS = False
    delta = Delta(sent("count.off"), dropped("deadline", "count.off"))
    memory_backend.send("count.off", {})
    with caplog.at_level(logging.WARNING, "channels_core.drops"):
        metrics.dropped(metrics.DEADLINE, "count.off")
    assert delta(*sent("count.off")) == 0
    assert delta(*dropped("deadline", "count.off")) == 0
    assert "reason=deadline channel=count.off" in caplog.text
    settings.CHANNELS_METRICS = True
    memory_backend.send("count.off", {})
    assert delta(*sent("count.off")) == 1


def call_metrics(headers: dict[str, str]) -> tuple[str, bytes]:
    """GET /metrics from the WSGI adapter (it answers without a worker); its status line and body."""
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", "QUERY_STRING": "", "SERVER_NAME": "testserver",
        "SERVER_PORT": "80", "wsgi.input": io.BytesIO(), "wsgi.url_scheme": "http", **headers,
    }  # fmt: skip
    status: list[str] = []
    body = b"".join(WsgiAdapter()(environ, lambda line, headers: status.append(line)))
    return status[0], body


def test_metrics_are_read_only_with_the_token(settings: Any) -> None:
    settings.CHANNELS_METRICS_TOKEN = "s3cret-token"
    assert call_metrics({})[0] == "404 Not Found"
    assert call_metrics({"HTTP_AUTHORIZATION": "Bearer wrong"})[0] == "404 Not Found"
    assert call_metrics({"HTTP_AUTHORIZATION": "Basic czNjcmV0LXRva2Vu"})[0] == "404 Not Found"
    status, body = call_metrics({"HTTP_AUTHORIZATION": "Bearer s3cret-token"})
    assert status == "200 OK"
    assert b"# TYPE channels_messages_sent_total counter" in body
    settings.CHANNELS_METRICS_TOKEN = ""
    assert call_metrics({"HTTP_AUTHORIZATION": "Bearer "})[0] == "404 Not Found"
