"""Presence: names behind sockets, several tabs per person, and expiry for servers that die."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from channels_core.backends import backends
from channels_core.exceptions import InvalidChannelName
from channels_core.presence import Presence
from channels_core.testing import wait_past

pytestmark = pytest.mark.django_db


@pytest.fixture
def short_expiry(settings) -> Iterator[None]:
    settings.CHANNEL_BACKENDS = {
        "default": {"BACKEND": "channels_core.backends.memory.InMemoryBackend", "GROUP_EXPIRY": 1}
    }
    backends.reset()
    yield
    backends.reset()


def test_a_name_joins_with_its_first_socket_and_leaves_with_its_last() -> None:
    room = Presence("chat-lobby")
    assert room.join("!ws.srv1.ada-tab1", "ada") is True
    assert room.join("!ws.srv2.ada-tab2", "ada") is False  # a second tab, on another server
    assert room.join("!ws.srv1.bob", "bob") is True
    assert room.names() == ["ada", "bob"]
    assert room.leave("!ws.srv1.ada-tab1") is None  # ada still has a tab open
    assert room.names() == ["ada", "bob"]
    assert room.leave("!ws.srv2.ada-tab2") == "ada"
    assert room.names() == ["bob"]
    assert room.leave("!ws.srv2.ada-tab2") is None  # leaving twice is harmless


def test_presence_sets_are_separate() -> None:
    Presence("chat-lobby").join("!ws.srv1.ada", "ada")
    assert Presence("chat-other").names() == []


def test_joining_again_is_a_refresh_not_a_second_member() -> None:
    room = Presence("chat-lobby")
    room.join("!ws.srv1.ada", "ada")
    assert room.join("!ws.srv1.ada", "ada") is False
    assert room.leave("!ws.srv1.ada") == "ada"


def test_sockets_not_refreshed_drop_out_and_sweep_names_who_left(short_expiry: None) -> None:
    room = Presence("chat-lobby")
    room.join("!ws.dead.ada", "ada")  # on a server that is about to die
    room.join("!ws.dead.bob-tab1", "bob")
    room.join("!ws.live.bob-tab2", "bob")
    wait_past(0.6)
    assert room.refresh("!ws.live.bob-tab2") is True  # its server's keepalive
    wait_past(0.6)
    assert room.names() == ["bob"]
    assert room.sweep() == ["ada"], "bob still has a live socket"
    assert room.sweep() == []
    assert room.refresh("!ws.dead.ada") is False


def test_bad_names_are_refused() -> None:
    with pytest.raises(InvalidChannelName):
        Presence("has space")
    with pytest.raises(InvalidChannelName):
        Presence("chat-lobby").join("bad channel", "ada")
