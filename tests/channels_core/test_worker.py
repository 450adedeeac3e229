"""The worker, in-process on the in-memory backend: dispatch, failures, unmatched messages, stop, threads, batches."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from channels_core.backends.memory import InMemoryBackend
from channels_core.decorators import consumer
from channels_core.held_replies import send_in_order
from channels_core.registry import Registry
from channels_core.testing import wait_until
from channels_core.worker import Worker

#: What the consumers below were called with, in the order they ran (appends are thread-safe).
calls: list[tuple[str, Any]] = []


@consumer("jobs.greet")
def greet(name, count, **kwargs):
    calls.append(("greet", {"name": name, "count": count, **kwargs}))


@consumer("django.websocket.connect", path=r"^/liveblog/(?P<slug>[-\w]+)/stream/$")
def liveblog_connect(send_channel, slug, **kwargs):
    calls.append(("liveblog_connect", {"send_channel": send_channel, "slug": slug, **kwargs}))


@consumer("django.websocket.receive", path=r"^/liveblog/(?P<slug>[-\w]+)/stream/$")
def liveblog_receive(**kwargs):
    calls.append(("liveblog_receive", kwargs))


@consumer("jobs.fragile")
def fragile(n, **kwargs):
    if n == 1:
        raise RuntimeError("fragile cannot take 1")
    calls.append(("fragile", n))


@consumer("jobs.routed", path=r"^/ok/$")
def routed(path, **kwargs):
    calls.append(("routed", path))


@consumer("jobs.count.a")
@consumer("jobs.count.b")
@consumer("jobs.count.c")
def count(n, **kwargs):
    calls.append(("count", n))


#: Three threads must be inside ``gate`` at once for any of them to get through.
gate_barrier = threading.Barrier(3, timeout=15)


@consumer("jobs.gate")
def gate(**kwargs):
    gate_barrier.wait()
    calls.append(("gate", threading.get_ident()))


#: Where ``reply`` finds its backend (the test's, set by the ``backend`` fixture).
replying_through: list[InMemoryBackend] = []
REPLY_INBOX = "!django.websocket.send.batch"


@consumer("jobs.reply")
def reply(n, **kwargs):
    """Reply to a socket, noting whether any earlier reply of this batch has been stored yet."""
    backend = replying_through[0]
    calls.append(("reply", (n, backend.receive_inbox(REPLY_INBOX))))
    send_in_order(backend, f"{REPLY_INBOX}.socket", {"n": n})  # as Channel(...).send does


StartWorker = Callable[..., Worker]


@pytest.fixture
def backend() -> Iterator[InMemoryBackend]:
    calls.clear()
    gate_barrier.reset()
    backend = InMemoryBackend({})
    replying_through[:] = [backend]
    yield backend
    backend.close()


@pytest.fixture
def start_worker(backend: InMemoryBackend) -> Iterator[StartWorker]:
    """Run a worker over some consumer functions in a background thread; stopped after the test."""
    running: list[tuple[Worker, threading.Thread]] = []

    def start(*functions: Callable[..., Any], threads: int = 1, batch: int = 1) -> Worker:
        worker = Worker(backend, Registry(functions), threads=threads, batch=batch)
        thread = threading.Thread(target=worker.run, name="test-worker", daemon=True)
        thread.start()
        running.append((worker, thread))
        return worker

    yield start
    for worker, _ in running:
        worker.stop()
    for _, thread in running:
        wait_until(lambda thread=thread: not thread.is_alive(), timeout=15, what="the worker to stop")


def called(name: str) -> list[Any]:
    return [args for consumer_name, args in calls if consumer_name == name]


def unmatched_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "channels_core.worker" and r.levelno == logging.WARNING and "no consumer" in r.getMessage()
    ]


# Dispatch.


def test_message_keys_arrive_as_keywords(backend: InMemoryBackend, start_worker: StartWorker) -> None:
    start_worker(greet)
    backend.send("jobs.greet", {"name": "Ada", "count": 3, "extra": [1, {"x": None}]})
    wait_until(lambda: called("greet"), what="greet to run")
    assert called("greet") == [{"name": "Ada", "count": 3, "extra": [1, {"x": None}]}]


def test_path_groups_arrive_as_extra_keywords(backend: InMemoryBackend, start_worker: StartWorker) -> None:
    start_worker(liveblog_connect)
    backend.send(
        "django.websocket.connect",
        {"send_channel": "!django.websocket.send.srv1.a1", "path": "/liveblog/big-news/stream/", "order": 0},
    )
    wait_until(lambda: called("liveblog_connect"), what="liveblog_connect to run")
    assert called("liveblog_connect") == [
        {
            "send_channel": "!django.websocket.send.srv1.a1",
            "slug": "big-news",
            "path": "/liveblog/big-news/stream/",
            "order": 0,
        }
    ]


def test_messages_of_one_channel_are_handled_in_order(backend: InMemoryBackend, start_worker: StartWorker) -> None:
    for n in range(50):
        backend.send("jobs.count.a", {"n": n})
    start_worker(count)
    wait_until(lambda: len(called("count")) == 50, what="50 messages handled")
    assert called("count") == list(range(50))


# A consumer that raises.


def test_failing_consumer_is_logged_and_the_worker_goes_on(
    backend: InMemoryBackend, start_worker: StartWorker, caplog: pytest.LogCaptureFixture
) -> None:
    start_worker(fragile)
    backend.send("jobs.fragile", {"n": 1})
    backend.send("jobs.fragile", {"n": 2})
    wait_until(lambda: called("fragile"), what="the message after the failure to be handled")
    assert called("fragile") == [2]

    [failure] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert failure.name == "channels_core.worker"
    assert "tests.channels_core.test_worker.fragile" in failure.getMessage()
    assert "'jobs.fragile'" in failure.getMessage()
    assert failure.exc_info is not None
    assert failure.exc_info[0] is RuntimeError
    assert "Traceback (most recent call last)" in caplog.text
    assert "RuntimeError: fragile cannot take 1" in caplog.text


def test_consumer_called_with_missing_keys_is_logged_not_fatal(
    backend: InMemoryBackend, start_worker: StartWorker, caplog: pytest.LogCaptureFixture
) -> None:
    """A message without a key the consumer requires is a TypeError in the consumer, nothing worse."""
    start_worker(greet)
    backend.send("jobs.greet", {"name": "no count"})
    backend.send("jobs.greet", {"name": "Ada", "count": 1})
    wait_until(lambda: called("greet"), what="the well-formed message to be handled")
    assert called("greet") == [{"name": "Ada", "count": 1}]
    [failure] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert failure.exc_info is not None
    assert failure.exc_info[0] is TypeError


# Messages no consumer matches.


def test_unmatched_message_is_logged_once_per_channel_and_path_and_dropped(
    backend: InMemoryBackend, start_worker: StartWorker, caplog: pytest.LogCaptureFixture
) -> None:
    for path in ["/nope/", "/nope/", "/other/", "/nope/", None, None]:
        backend.send("jobs.routed", {"path": path} if path else {})
    backend.send("jobs.routed", {"path": "/ok/"})
    start_worker(routed)
    wait_until(lambda: called("routed"), what="the matching message to be handled")

    assert called("routed") == ["/ok/"]
    assert unmatched_warnings(caplog) == [
        "no consumer for a message on 'jobs.routed' with path '/nope/'; dropped",
        "no consumer for a message on 'jobs.routed' with path '/other/'; dropped",
        "no consumer for a message on 'jobs.routed' with path None; dropped",
    ]
    assert backend.receive(["jobs.routed"]) is None


def test_unmatched_message_with_an_odd_path_does_not_stop_the_worker(
    backend: InMemoryBackend, start_worker: StartWorker
) -> None:
    """Messages are any JSON dict: a list or dict ``path`` matches no pattern and must be dropped like any other."""
    backend.send("jobs.routed", {"path": ["/ok/"]})
    backend.send("jobs.routed", {"path": {"p": "/ok/"}})
    backend.send("jobs.routed", {"path": "/ok/"})
    start_worker(routed)
    wait_until(lambda: called("routed"), what="the message after the odd paths to be handled")
    assert called("routed") == ["/ok/"]


def test_unmatched_websocket_connect_is_closed(backend: InMemoryBackend, start_worker: StartWorker) -> None:
    start_worker(liveblog_connect)
    backend.send(
        "django.websocket.connect",
        {"send_channel": "!django.websocket.send.srv1.k3J9", "path": "/nowhere/", "order": 0},
    )
    reply = wait_until(
        lambda: backend.receive_inbox("!django.websocket.send.srv1"), what="a close on the socket's send channel"
    )
    assert reply == [
        ("!django.websocket.send.srv1.k3J9", {"close": True}),
        # Then the server hears that the connect was handled, so it would emit the socket's next message.
        (
            "!django.websocket.send.srv1.handled",
            {"handled": [{"socket": "!django.websocket.send.srv1.k3J9", "order": 0}]},
        ),
    ]
    assert called("liveblog_connect") == []


def test_unmatched_messages_other_than_connect_get_no_close(
    backend: InMemoryBackend, start_worker: StartWorker
) -> None:
    backend.send(
        "django.websocket.receive",
        {"send_channel": "!django.websocket.send.srv1.k3J9", "path": "/nowhere/", "text": "hi"},
    )
    backend.send(
        "django.websocket.receive",
        {"send_channel": "!django.websocket.send.srv1.k3J9", "path": "/liveblog/x/stream/"},
    )
    start_worker(liveblog_receive)
    wait_until(lambda: called("liveblog_receive"), what="the matching message to be handled")
    assert backend.receive_inbox("!django.websocket.send.srv1") == []


def test_unmatched_connect_without_send_channel_is_just_dropped(
    backend: InMemoryBackend, start_worker: StartWorker, caplog: pytest.LogCaptureFixture
) -> None:
    backend.send("django.websocket.connect", {"path": "/nowhere/"})
    backend.send("django.websocket.connect", {"path": "/liveblog/x/stream/", "send_channel": "!s.a"})
    start_worker(liveblog_connect)
    wait_until(lambda: called("liveblog_connect"), what="the matching connect to be handled")
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert backend.receive_inbox("!s") == []


# Stopping.


@pytest.mark.parametrize("threads", [1, 3])
def test_stop_makes_run_return(backend: InMemoryBackend, threads: int) -> None:
    worker = Worker(backend, Registry([greet]), threads=threads)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    backend.send("jobs.greet", {"name": "before stop", "count": 1})
    wait_until(lambda: called("greet"), what="the worker to handle a message")
    assert thread.is_alive()
    worker.stop()
    wait_until(lambda: not thread.is_alive(), timeout=15, what="run() to return after stop()")


def test_stop_makes_run_return_with_no_channels(backend: InMemoryBackend) -> None:
    worker = Worker(backend, Registry([]))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    worker.stop()
    wait_until(lambda: not thread.is_alive(), timeout=15, what="run() to return after stop()")


def test_stopped_worker_leaves_later_messages_alone(backend: InMemoryBackend) -> None:
    worker = Worker(backend, Registry([greet]))
    worker.stop()
    worker.run()  # returns at once: stop() came first
    backend.send("jobs.greet", {"name": "later", "count": 1})
    assert called("greet") == []
    assert backend.receive(["jobs.greet"]) == ("jobs.greet", {"name": "later", "count": 1})


# Threads.


def test_threads_handle_messages_at_the_same_time(backend: InMemoryBackend, start_worker: StartWorker) -> None:
    """Each gate message blocks until three are in hand at once, so only three concurrent threads get through."""
    for _ in range(3):
        backend.send("jobs.gate", {})
    start_worker(gate, threads=3)
    wait_until(lambda: len(called("gate")) == 3, timeout=20, what="three threads through the gate")
    assert len(set(called("gate"))) == 3


def test_every_message_is_handled_exactly_once_across_threads(backend: InMemoryBackend) -> None:
    sent = []
    for n in range(270):
        backend.send(f"jobs.count.{'abc'[n % 3]}", {"n": n})
        sent.append(n)
    worker = Worker(backend, Registry([count]), threads=3)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    wait_until(lambda: len(called("count")) >= len(sent), what="every message handled")
    worker.stop()
    wait_until(lambda: not thread.is_alive(), timeout=15, what="run() to return after stop()")

    handled = Counter(called("count"))
    assert sorted(handled) == sent
    assert set(handled.values()) == {1}


# Batches.


@pytest.mark.parametrize("option", ["threads", "batch"])
def test_threads_and_batch_are_at_least_one(backend: InMemoryBackend, option: str) -> None:
    with pytest.raises(ValueError, match=f"{option} must be at least 1, not 0"):
        Worker(backend, Registry([greet]), **{option: 0})


def test_a_batch_runs_in_order_and_its_replies_leave_together(
    backend: InMemoryBackend, start_worker: StartWorker
) -> None:
    for n in range(5):
        backend.send("jobs.reply", {"n": n})
    start_worker(reply, batch=8)
    wait_until(lambda: len(called("reply")) == 5, what="the batch to be handled")
    assert called("reply") == [(n, []) for n in range(5)], "a reply was stored before the batch was done"
    replies = backend.receive_inbox(REPLY_INBOX, timeout=5)
    assert [message["n"] for _, message in replies] == list(range(5))


def test_a_batch_is_no_bigger_than_asked(backend: InMemoryBackend, start_worker: StartWorker) -> None:
    for n in range(5):
        backend.send("jobs.reply", {"n": n})
    start_worker(reply, batch=2)
    wait_until(lambda: len(called("reply")) == 5, what="every message to be handled")
    # The first of each batch of two sees the replies of the batch before it.
    seen = [len(stored) for _, stored in called("reply")]
    assert seen == [0, 0, 2, 0, 2]


def test_a_failing_consumer_does_not_lose_its_batchs_replies(
    backend: InMemoryBackend, start_worker: StartWorker, caplog: pytest.LogCaptureFixture
) -> None:
    backend.send("jobs.reply", {"n": 0})
    backend.send("jobs.fragile", {"n": 1})
    backend.send("jobs.reply", {"n": 2})
    start_worker(reply, fragile, batch=8)
    wait_until(lambda: len(called("reply")) == 2, what="the batch to be handled")
    replies = backend.receive_inbox(REPLY_INBOX, timeout=5)
    assert [message["n"] for _, message in replies] == [0, 2]
    assert "failed on channel 'jobs.fragile'" in caplog.text and "fragile cannot take 1" in caplog.text


@consumer("django.websocket.receive")
def say_nothing(**kwargs: Any) -> None:
    pass


def test_a_batch_reports_its_sockets_messages_handled_in_one_message_per_server(
    backend: InMemoryBackend, start_worker: StartWorker
) -> None:
    sockets = ["!django.websocket.send.srv1.a", "!django.websocket.send.srv1.b", "!django.websocket.send.srv2.c"]
    for order, socket in enumerate(sockets, start=1):
        backend.send("django.websocket.receive", {"send_channel": socket, "path": "/", "text": "hi", "order": order})
    start_worker(say_nothing, batch=8)
    srv1 = wait_until(lambda: backend.receive_inbox("!django.websocket.send.srv1"), what="srv1's report")
    srv2 = wait_until(lambda: backend.receive_inbox("!django.websocket.send.srv2"), what="srv2's report")
    assert srv1 == [
        (
            "!django.websocket.send.srv1.handled",
            {"handled": [{"socket": sockets[0], "order": 1}, {"socket": sockets[1], "order": 2}]},
        )
    ]
    assert srv2 == [("!django.websocket.send.srv2.handled", {"handled": [{"socket": sockets[2], "order": 3}]})]
