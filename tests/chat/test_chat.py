"""The chat's consumers and protocol, run as a worker runs them, on the in-memory backend."""

from __future__ import annotations

import base64
import json
from importlib import import_module

import pytest
from django.conf import settings
from django.contrib.auth.models import User

from channels_core.backends import BaseBackend
from channels_core.held_replies import holding_replies
from chat import consumers
from chat.models import MAX_LENGTH, Message, Room
from chat.protocol import RATE_COUNT

pytestmark = pytest.mark.django_db(transaction=True)

PATH = "/chat/lobby/stream/"


def cookie_for(**data: object) -> list[list[str]]:
    """The headers of a browser whose Django session holds ``data``."""
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session.update(data)
    session.save()
    return [["cookie", f"{settings.SESSION_COOKIE_NAME}={session.session_key}"]]


class Socket:
    """One browser socket, as the interface server would describe it to consumers."""

    def __init__(self, backend: BaseBackend, name: str, headers: list[list[str]], path: str = PATH) -> None:
        self.backend, self.channel, self.headers, self.path = backend, f"!ws.srv1.{name}", headers, path
        self.inbox = "!ws.srv1"
        self.order = 0

    def connect(self, query_string: str = "") -> None:
        consumers.enter(send_channel=self.channel, path=self.path, headers=self.headers, query_string=query_string,
                        order=0, client=["127.0.0.1", 1], server=["127.0.0.1", 8001], **_groups(self.path))  # fmt: skip

    def say(self, text: str) -> None:
        self.order += 1
        consumers.say(send_channel=self.channel, path=self.path, text=text, order=self.order, **_groups(self.path))

    def close(self, code: int = 1000) -> None:
        self.order += 1
        consumers.leave(send_channel=self.channel, path=self.path, code=code, order=self.order, **_groups(self.path))


def _groups(path: str) -> dict[str, str]:
    return {"slug": path.split("/")[2]}


def received(backend: BaseBackend, channel: str) -> list[dict]:
    """What reached ``channel`` (its inbox holds every test socket; keep only its own), without positions."""
    return [message for to, message in drain(backend) if to == channel]


def drain(backend: BaseBackend) -> list[tuple[str, dict]]:
    """Every message that reached the test sockets, without the positions the room's history adds.

    Positions and what they recover are checked in test_recovery.py.
    """
    return [(to, without_position(message)) for to, message in backend.receive_inbox("!ws.srv1", limit=1000)]


def without_position(message: dict) -> dict:
    return {key: value for key, value in message.items() if key != "position"}


def test_a_visitor_with_a_nickname_is_welcomed_and_announced(backend, lobby) -> None:
    ada = Socket(backend, "ada", cookie_for(nickname="ada"))
    ada.connect()
    assert drain(backend) == [
        (ada.channel, {"type": "welcome", "name": "ada", "names": ["ada"]}),
        (ada.channel, {"type": "join", "name": "ada", "names": ["ada"]}),
    ]


def test_under_a_batching_worker_the_welcome_still_comes_first(backend, lobby) -> None:
    """``runworker --batch`` holds replies to sockets; the room's announcement (a group send) stores them first."""
    ada = Socket(backend, "ada", cookie_for(nickname="ada"))
    ada.channel, ada.inbox = "!django.websocket.send.srv1.ada", "!django.websocket.send.srv1"
    with holding_replies(backend):
        ada.connect()
    assert [(to, without_position(message)) for to, message in backend.receive_inbox(ada.inbox)] == [
        (ada.channel, {"type": "welcome", "name": "ada", "names": ["ada"]}),
        (ada.channel, {"type": "join", "name": "ada", "names": ["ada"]}),
    ]


def test_a_signed_in_user_chats_under_their_username(backend, lobby) -> None:
    user = User.objects.create_user("grace", password="pw-for-tests-only")
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.save()
    grace = Socket(backend, "grace", [["cookie", f"{settings.SESSION_COOKIE_NAME}={session.session_key}"]])
    grace.connect()
    assert received(backend, grace.channel)[0] == {"type": "welcome", "name": "grace", "names": ["grace"]}


def test_no_nickname_no_entry(backend, lobby) -> None:
    nobody = Socket(backend, "nobody", [])
    nobody.connect()
    assert received(backend, nobody.channel) == [
        {"type": "error", "code": "4001", "error": "Choose a nickname first.", "close": consumers.NO_NAME}
    ]
    assert lobby.presence.names() == []


def test_the_staff_room_refuses_visitors_and_admits_staff(backend, db) -> None:
    Room.objects.create(slug="staff", title="Staff room", staff_only=True)
    visitor = Socket(backend, "visitor", cookie_for(nickname="visitor"), path="/chat/staff/stream/")
    visitor.connect()
    (refusal,) = received(backend, visitor.channel)
    assert refusal["close"] == consumers.STAFF_ONLY and "staff only" in refusal["error"]
    staff = User.objects.create_user("boss", password="pw-for-tests-only", is_staff=True)
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session.update({"_auth_user_id": str(staff.pk), "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
                    "_auth_user_hash": staff.get_session_auth_hash()})  # fmt: skip
    session.save()
    boss = Socket(
        backend,
        "boss",
        [["cookie", f"{settings.SESSION_COOKIE_NAME}={session.session_key}"]],
        path="/chat/staff/stream/",
    )
    boss.connect()
    assert received(backend, boss.channel)[0]["type"] == "welcome"


def test_what_is_said_is_stored_and_reaches_everyone(backend, lobby) -> None:
    ada, bob = Socket(backend, "ada", cookie_for(nickname="ada")), Socket(backend, "bob", cookie_for(nickname="bob"))
    ada.connect()
    bob.connect()
    drain(backend)
    ada.say(json.dumps({"type": "message", "text": "<img src=x onerror=alert(1)>"}))
    got = drain(backend)
    assert sorted(to for to, _ in got) == sorted([ada.channel, bob.channel])
    assert {m["message"]["text"] for _, m in got} == {"<img src=x onerror=alert(1)>"}
    assert Message.objects.get().author == "ada"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (json.dumps({"type": "message", "text": "   "}), "empty"),
        (json.dumps({"type": "message", "text": "x" * (MAX_LENGTH + 1)}), "too-long"),
        (json.dumps({"type": "shout", "text": "hi"}), "unknown-type"),
        ("not json", "bad-json"),
        (json.dumps(["message", "hi"]), "unknown-type"),
        ("null", "unknown-type"),
        ('"message"', "unknown-type"),
        # Nested deeper than Python's stack: json.loads raises RecursionError.
        ("[" * 10_000 + "]" * 10_000, "bad-json"),
        ('{"type": "message", "text": "hi", "more": ' + "[" * 10_000 + "]" * 10_000 + "}", "bad-json"),
        ("1" * 5000, "bad-json"),  # an integer too long to convert: ValueError
        # Valid JSON, but not text a database can store: a lone surrogate, a NUL.
        ('{"type": "message", "text": "hi \\ud800"}', "bad-json"),
        (json.dumps({"type": "message", "text": "hi \x00"}), "bad-json"),
        # Far too long to hold a valid message: refused before it is parsed.
        ("[" * 500_000, "too-long"),
    ],
)
def test_invalid_input_gets_an_error_to_the_sender_alone(backend, lobby, caplog, text: str, code: str) -> None:
    ada, bob = Socket(backend, "ada", cookie_for(nickname="ada")), Socket(backend, "bob", cookie_for(nickname="bob"))
    ada.connect()
    bob.connect()
    drain(backend)
    ada.say(text)
    got = drain(backend)
    assert [(to, m["type"], m["code"]) for to, m in got] == [(ada.channel, "error", code)]
    assert not Message.objects.exists()
    assert [record for record in caplog.records if record.exc_info] == [], "no traceback in the log"


def test_a_binary_frame_gets_an_error_to_the_sender(backend, lobby) -> None:
    """The page sends text frames only; a binary one (here not even UTF-8) comes as ``bytes``, without ``text``."""
    ada = Socket(backend, "ada", cookie_for(nickname="ada"))
    ada.connect()
    drain(backend)
    consumers.say(send_channel=ada.channel, path=PATH, bytes=base64.b64encode(b"\xff\xfe{").decode(), order=1,
                  **_groups(PATH))  # fmt: skip
    assert received(backend, ada.channel) == [
        {"type": "error", "code": "bad-json", "error": "Messages must be JSON text, not binary."}
    ]


def test_flooding_is_refused_after_the_rate(backend, lobby) -> None:
    ada = Socket(backend, "ada", cookie_for(nickname="ada"))
    ada.connect()
    drain(backend)
    for n in range(RATE_COUNT + 2):
        ada.say(json.dumps({"type": "message", "text": f"spam {n}"}))
    errors = [m["code"] for _, m in drain(backend) if m["type"] == "error"]
    assert errors == ["flood", "flood"]
    assert Message.objects.count() == RATE_COUNT


def test_presence_counts_people_not_tabs(backend, lobby) -> None:
    cookie = cookie_for(nickname="ada")
    tab1, tab2 = Socket(backend, "ada1", cookie), Socket(backend, "ada2", cookie)
    bob = Socket(backend, "bob", cookie_for(nickname="bob"))
    tab1.connect()
    tab2.connect()
    bob.connect()
    drain(backend)
    assert lobby.presence.names() == ["ada", "bob"]
    tab1.close()
    assert [m["type"] for _, m in drain(backend)] == [], "ada is still here in her other tab"
    tab2.close()
    notices = [m for _, m in drain(backend)]
    assert notices == [{"type": "leave", "name": "ada", "names": ["bob"]}]
