"""A room's page recovers what was said while its socket was away: the room's group keeps a history."""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

import pytest

from channels_core.backends import BaseBackend
from chat import consumers
from chat.models import Room

from .test_chat import PATH, Socket, _groups, cookie_for

pytestmark = pytest.mark.django_db(transaction=True)


def since(position: object) -> str:
    """The query string of a room page's socket that sends ``position`` (ChannelsSocket's ``since``)."""
    return urlencode({"since": json.dumps({"chat-lobby": position})})


def inbox(backend: BaseBackend, channel: str) -> list[dict]:
    return [message for to, message in backend.receive_inbox("!ws.srv1", limit=1000) if to == channel]


def test_a_page_coming_back_gets_what_was_said_since_its_position_then_recovered(backend, lobby: Room) -> None:
    ada, bob = Socket(backend, "ada", cookie_for(nickname="ada")), Socket(backend, "bob", cookie_for(nickname="bob"))
    bob.connect()
    rendered = lobby.group.position()  # ada's page, rendered now
    bob.say(json.dumps({"type": "message", "text": "anyone here?"}))
    inbox(backend, bob.channel)

    ada.connect(since(rendered))
    got = inbox(backend, ada.channel)
    said, recovery, welcome, join = got
    assert said["message"]["text"] == "anyone here?"
    assert said["position"]["offset"] == rendered["offset"] + 1
    assert recovery == {"recovery": {"recovered": True, "groups": {"chat-lobby": {"recovered": True, "replayed": 1}}}}
    assert welcome == {"type": "welcome", "name": "ada", "names": ["ada", "bob"]}
    assert join["type"] == "join" and join["position"]["offset"] == rendered["offset"] + 2


def test_a_malformed_position_recovers_nothing_and_the_page_is_still_welcomed(backend, lobby: Room) -> None:
    ada = Socket(backend, "ada", cookie_for(nickname="ada"))
    current = lobby.group.position()
    ada.connect(since({**current, "offset": "zero"}))
    recovery, welcome, _join = inbox(backend, ada.channel)
    assert recovery == {
        "recovery": {
            "recovered": False,
            "groups": {"chat-lobby": {"recovered": False, "replayed": 0, "position": current}},
        }
    }
    assert welcome["type"] == "welcome"
    assert lobby.group.channels() == [ada.channel]


def test_a_keepalive_replays_nothing(backend, lobby: Room) -> None:
    ada, bob = Socket(backend, "ada", cookie_for(nickname="ada")), Socket(backend, "bob", cookie_for(nickname="bob"))
    ada.connect(since(lobby.group.position()))
    bob.connect()
    bob.say(json.dumps({"type": "message", "text": "hello"}))
    inbox(backend, ada.channel)
    consumers.stay(send_channel=ada.channel, path=PATH, **_groups(PATH))
    assert inbox(backend, ada.channel) == []
    assert sorted(lobby.group.channels()) == sorted([ada.channel, bob.channel])


def test_the_room_page_renders_the_position_its_history_is_as_of(client, backend, lobby: Room) -> None:
    ada = Socket(backend, "ada", cookie_for(nickname="ada"))
    ada.connect()
    ada.say(json.dumps({"type": "message", "text": "first"}))
    session = client.session
    session["nickname"] = "bob"
    session.save()
    content = client.get("/chat/lobby/").content.decode()
    rendered = re.search(r'<script id="chat-position" type="application/json">(.*?)</script>', content)
    assert rendered, "the page holds its position for the socket"
    assert json.loads(rendered.group(1)) == lobby.group.position()
    assert json.loads(rendered.group(1))["offset"] == 2, "ada's join and her message"
    assert "first" in content
