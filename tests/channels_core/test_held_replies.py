"""A batching worker's held replies, on every backend (the ``backend`` fixture of conftest.py)."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from channels_core import Channel, Group
from channels_core.backends import BaseBackend, get_backend
from channels_core.defaults import MAX_MESSAGE_SIZE
from channels_core.exceptions import ChannelFull, InvalidMessage, MessageTooLarge
from channels_core.held_replies import holding_replies, send_in_order
from channels_core.names import new_channel_name

from .backends.test_contract import drain, drain_inbox

SOCKETS = "!django.websocket.send.held"


def test_held_replies_are_stored_together_when_the_block_ends(backend: BaseBackend) -> None:
    sockets = [new_channel_name(SOCKETS) for _ in range(3)]
    with holding_replies(backend) as held:
        for n, socket in enumerate(sockets * 2):
            held.send(socket, {"n": n})
        assert len(held) == 6
        assert drain_inbox(backend, SOCKETS) == [], "a held reply was stored early"
    assert drain_inbox(backend, SOCKETS) == [(socket, {"n": n}) for n, socket in enumerate(sockets * 2)]


def test_other_sends_store_the_held_replies_first(backend: BaseBackend) -> None:
    socket = new_channel_name(SOCKETS)
    with holding_replies(backend) as held:
        held.send(socket, {"n": 1})
        held.send("held.work", {"n": 2})  # a normal channel: sent now, after what this thread held
        assert drain_inbox(backend, SOCKETS) == [(socket, {"n": 1})]
        held.send("!wsgi.held.x1", {"n": 3})  # an HTTP response channel is never held
        assert drain_inbox(backend, "!wsgi.held") == [("!wsgi.held.x1", {"n": 3})]
    assert drain(backend, ["held.work"]) == [("held.work", {"n": 2})]


def test_a_send_after_held_replies_still_gets_its_own_outcome(backend: BaseBackend) -> None:
    socket = new_channel_name(SOCKETS)
    backend.send("tiny.one", {"n": 0})  # capacity 1: now full
    with holding_replies(backend) as held:
        held.send(socket, {"n": 1})
        with pytest.raises(ChannelFull, match=r"'tiny\.one' is full"):
            held.send("tiny.one", {"n": 2})
        assert drain_inbox(backend, SOCKETS) == [(socket, {"n": 1})], "the held reply was not stored first"
    assert drain(backend, ["tiny.one"]) == [("tiny.one", {"n": 0})]


def test_holding_inside_holding_stores_at_the_outer_end(backend: BaseBackend) -> None:
    socket = new_channel_name(SOCKETS)
    with holding_replies(backend) as outer:
        outer.send(socket, {"n": 1})
        with holding_replies(backend) as inner:
            assert inner is outer
            inner.send(socket, {"n": 2})
        assert drain_inbox(backend, SOCKETS) == []
    assert drain_inbox(backend, SOCKETS) == [(socket, {"n": 1}), (socket, {"n": 2})]


def test_bad_input_still_raises_at_a_held_send(backend: BaseBackend) -> None:
    socket = new_channel_name(SOCKETS)
    with holding_replies(backend) as held:
        with pytest.raises(MessageTooLarge):
            held.send(socket, {"text": "x" * MAX_MESSAGE_SIZE})
        with pytest.raises(InvalidMessage):
            held.send(socket, {"n": object()})
        held.send(socket, {"n": 1})
    assert drain_inbox(backend, SOCKETS) == [(socket, {"n": 1})]


def test_a_held_reply_that_finds_its_inbox_full_is_logged(
    backend: BaseBackend, caplog: pytest.LogCaptureFixture
) -> None:
    sockets = [new_channel_name("!django.websocket.send.tiny") for _ in range(2)]
    with holding_replies(backend) as held:
        for socket in sockets:
            held.send(socket, {"to": socket})  # the inbox's capacity is 1
    assert drain_inbox(backend, "!django.websocket.send.tiny") == [(sockets[0], {"to": sockets[0]})]
    assert f"reply to {sockets[1]} not stored: " in caplog.text
    assert "is full (capacity 1" in caplog.text


def test_only_the_holding_thread_holds(backend: BaseBackend) -> None:
    socket = new_channel_name(SOCKETS)

    def send_from_another_thread() -> None:
        try:
            send_in_order(backend, socket, {"from": "other"})
        finally:
            connections.close_all()

    with holding_replies(backend):
        other = threading.Thread(target=send_from_another_thread)
        other.start()
        other.join()
        assert drain_inbox(backend, SOCKETS) == [(socket, {"from": "other"})]


def test_only_the_held_backend_holds(backend: BaseBackend, memory_backend: BaseBackend) -> None:
    socket = new_channel_name(SOCKETS)
    with holding_replies(memory_backend):
        send_in_order(backend, socket, {"n": 1})
        assert drain_inbox(backend, SOCKETS) == [(socket, {"n": 1})]


# What user code sends through: Channel and Group ask whether the thread holds replies.


def test_channel_and_group_sends_keep_the_thread_s_order(memory_backend: BaseBackend) -> None:
    socket = new_channel_name(SOCKETS)
    Group("held.group").add(socket)
    with holding_replies(get_backend()):
        Channel(socket).send(n=1)
        assert drain_inbox(memory_backend, SOCKETS) == [], "a reply sent through Channel was not held"
        Group("held.group").send(n=2)  # stores the held reply first
        Channel(socket).send(n=3)
        Channel("held.work").send(n=4)  # stores the held reply first, in the same round trip
        Channel(socket).send(n=5)
        assert drain_inbox(memory_backend, SOCKETS) == [(socket, {"n": 1}), (socket, {"n": 2}), (socket, {"n": 3})]
    assert drain_inbox(memory_backend, SOCKETS) == [(socket, {"n": 5})]
    assert drain(memory_backend, ["held.work"]) == [("held.work", {"n": 4})]
