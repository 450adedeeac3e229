"""Session decorators for WebSocket consumers, on the real database session store.

Consumers are called as the worker calls them: ``function(**message, **path_groups)``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from importlib import import_module
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.contrib.sessions.models import Session
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.utils import timezone

from channels_core import sessions
from channels_core.context import handling_message
from channels_core.decorators import BINDINGS_ATTRIBUTE, consumer
from channels_core.registry import Registry
from channels_core.sessions import (
    HTTP_SESSION_KEY_FIELD,
    channel_session,
    channel_session_key,
    http_session,
    http_session_user,
)

# transaction=True: every save really commits, as in a worker, and connections are closed after each
# test (a connection left open breaks later non-database tests whose worker calls close_old_connections).
pytestmark = pytest.mark.django_db(transaction=True)

SOCKET = "!django.websocket.send.srv1.k3J9"
OTHER_SOCKET = "!django.websocket.send.srv1.Zq8w"
CHAT_PATH = "/chat/lobby/"


def connect(send_channel: str = SOCKET, cookie: str | None = None, path: str = CHAT_PATH) -> dict[str, Any]:
    headers = [["host", "testserver"], ["origin", "http://testserver"]]
    if cookie is not None:
        headers.append(["cookie", cookie])
    return {
        "send_channel": send_channel,
        "path": path,
        "query_string": "",
        "headers": headers,
        "client": ["127.0.0.1", 50000],
        "server": ["127.0.0.1", 8000],
        "order": 0,
    }


def receive(send_channel: str = SOCKET, text: str = "hi", order: int = 1, path: str = CHAT_PATH) -> dict[str, Any]:
    return {"send_channel": send_channel, "path": path, "text": text, "order": order}


def keepalive(send_channel: str = SOCKET, path: str = CHAT_PATH) -> dict[str, Any]:
    return {"send_channel": send_channel, "path": path}


def disconnect(send_channel: str = SOCKET, order: int = 2, path: str = CHAT_PATH) -> dict[str, Any]:
    return {"send_channel": send_channel, "path": path, "code": 1000, "order": order}


def disconnected(function: Callable[..., Any], send_channel: str = SOCKET, order: int = 2) -> Any:
    """Call ``function`` with a disconnect, as a worker does: knowing the message came from the disconnect channel."""
    with handling_message("django.websocket.disconnect", "default"):
        return function(**disconnect(send_channel, order))


def record(**kwargs: Any) -> dict[str, Any]:
    """A consumer that returns what it was called with."""
    return kwargs


def stored(send_channel: str) -> bool:
    return Session.objects.filter(session_key=channel_session_key(send_channel)).exists()


def public(state: Any) -> dict[str, Any]:
    """What a consumer stored, without the keys the decorators keep for themselves (``_`` first)."""
    return {key: value for key, value in state.items() if not key.startswith("_")}


@pytest.fixture
def alice() -> User:
    return User.objects.create_user("alice", password="wonderland")


@pytest.fixture
def alice_cookie(alice: User) -> str:
    """The cookie header of a browser where alice is logged in."""
    client = Client()
    client.force_login(alice)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


# http_session / http_session_user on their own.


@pytest.mark.parametrize(
    "cookie",
    [
        None,
        "",
        "csrftoken=abc",
        f"{settings.SESSION_COOKIE_NAME}=short",
        f"{settings.SESSION_COOKIE_NAME}={'x' * 32}",  # well formed, but no such session
    ],
    ids=["no-cookie-header", "empty", "other-cookie", "invalid-key", "unknown-key"],
)
def test_without_a_valid_session_cookie_the_user_is_anonymous(cookie: str | None) -> None:
    got = http_session_user(record)(**connect(cookie=cookie))
    assert isinstance(got["user"], AnonymousUser)
    assert got["session"].session_key is None
    assert dict(got["session"]) == {}


def test_logged_in_browser_gives_its_user_and_session(alice: User, alice_cookie: str) -> None:
    got = http_session_user(record)(**connect(cookie=alice_cookie))
    assert got["user"] == alice
    assert f"{settings.SESSION_COOKIE_NAME}={got['session'].session_key}" == alice_cookie
    assert got["session"]["_auth_user_id"] == str(alice.pk)


def test_http_session_passes_the_session_but_no_user(alice_cookie: str) -> None:
    got = http_session(record)(**connect(cookie=alice_cookie))
    assert "user" not in got
    assert f"{settings.SESSION_COOKIE_NAME}={got['session'].session_key}" == alice_cookie


def test_message_keys_and_path_groups_are_passed_through(alice_cookie: str) -> None:
    message = connect(cookie=alice_cookie)
    got = channel_session(http_session_user(record))(**message, room="lobby")
    assert {key: got[key] for key in message} == message
    assert got["room"] == "lobby"


def test_the_cookie_may_be_one_of_several(alice: User, alice_cookie: str) -> None:
    got = http_session_user(record)(**connect(cookie=f"csrftoken=abc; {alice_cookie}; theme=dark"))
    assert got["user"] == alice


def test_without_channel_session_later_messages_get_an_anonymous_user(alice_cookie: str) -> None:
    consumer_function = http_session_user(record)
    assert not consumer_function(**connect(cookie=alice_cookie))["user"].is_anonymous
    got = consumer_function(**receive())
    assert isinstance(got["user"], AnonymousUser)
    assert got["session"].session_key is None


def test_a_modified_http_session_is_saved(alice_cookie: str) -> None:
    def mark(session: Any, **kwargs: Any) -> None:
        session["seen_by_websocket"] = True

    http_session(mark)(**connect(cookie=alice_cookie))
    key = alice_cookie.partition("=")[2]
    assert import_module(settings.SESSION_ENGINE).SessionStore(key)["seen_by_websocket"] is True


def test_an_anonymous_session_is_never_saved() -> None:
    def mark(session: Any, **kwargs: Any) -> None:
        session["seen_by_websocket"] = True

    http_session(mark)(**connect())
    assert not Session.objects.exists()


def test_a_user_whose_password_changed_is_logged_out(alice: User, alice_cookie: str) -> None:
    alice.set_password("looking-glass")
    alice.save()
    got = http_session_user(record)(**connect(cookie=alice_cookie))
    assert isinstance(got["user"], AnonymousUser)


# channel_session.


def test_channel_session_key_is_derived_and_valid_for_the_store() -> None:
    key = channel_session_key(SOCKET)
    assert key == channel_session_key(SOCKET)
    assert key != channel_session_key(OTHER_SOCKET)
    assert len(key) == 32 and key.startswith("chn") and key.isalnum() and key.islower()
    store = import_module(settings.SESSION_ENGINE).SessionStore(key)
    assert store.session_key == key


def test_channel_session_key_depends_on_the_secret_key(settings: Any) -> None:
    key = channel_session_key(SOCKET)
    settings.SECRET_KEY = "another-secret-key-for-this-test-only"
    assert channel_session_key(SOCKET) != key


def test_channel_session_lives_from_connect_to_disconnect() -> None:
    seen: list[dict[str, Any]] = []

    @channel_session
    def ws_consumer(channel_session: Any, order: int = -1, **kwargs: Any) -> None:
        seen.append(public(channel_session))
        channel_session[f"order {order}"] = True

    ws_consumer(**connect())
    assert stored(SOCKET)
    ws_consumer(**keepalive())
    ws_consumer(**receive(order=1))
    disconnected(ws_consumer, order=2)
    assert seen == [
        {},
        {"order 0": True},
        {"order 0": True, "order -1": True},
        {"order 0": True, "order -1": True, "order 1": True},
    ]
    assert not stored(SOCKET)
    ws_consumer(**receive(order=3))  # a late message starts from nothing
    assert seen[-1] == {}


def test_a_message_shaped_like_a_disconnect_on_another_channel_keeps_the_channel_session() -> None:
    remember = channel_session(lambda channel_session, **kwargs: channel_session.update({"kept": True}))
    remember(**connect())
    with handling_message("chat.archive", "default"):  # same keys as a disconnect, but not one
        channel_session(record)(**disconnect())
    assert stored(SOCKET)


def test_each_socket_has_its_own_channel_session() -> None:
    @channel_session
    def remember(channel_session: Any, text: str = "", **kwargs: Any) -> dict[str, Any]:
        if text:
            channel_session["text"] = text
        return public(channel_session)

    remember(**receive(SOCKET, text="first"))
    remember(**receive(OTHER_SOCKET, text="second"))
    assert remember(**keepalive(SOCKET)) == {"text": "first"}
    assert remember(**keepalive(OTHER_SOCKET)) == {"text": "second"}
    disconnected(remember, SOCKET)
    assert not stored(SOCKET)
    assert remember(**keepalive(OTHER_SOCKET)) == {"text": "second"}


def test_an_unmodified_channel_session_is_not_written() -> None:
    channel_session(record)(**connect())
    assert not stored(SOCKET)


def test_channel_session_is_saved_when_the_consumer_raises() -> None:
    @channel_session
    def fails(channel_session: Any, **kwargs: Any) -> None:
        channel_session["joined"] = "lobby"
        raise RuntimeError("after joining the group")

    with pytest.raises(RuntimeError, match="after joining"):
        fails(**connect())
    assert channel_session(record)(**keepalive())["channel_session"]["joined"] == "lobby"


def test_channel_session_is_deleted_when_the_disconnect_consumer_raises() -> None:
    @channel_session
    def fails(channel_session: Any, **kwargs: Any) -> None:
        channel_session["step"] = 1
        raise RuntimeError("boom")

    channel_session(lambda channel_session, **kwargs: channel_session.update({"step": 0}))(**connect())
    with pytest.raises(RuntimeError):
        disconnected(fails)
    assert not stored(SOCKET)


def test_two_messages_creating_the_channel_session_at_once_keep_the_last_write() -> None:
    # The inner call creates the session between the outer one's load and save,
    # as a second worker handling the same socket would.
    @channel_session
    def second(channel_session: Any, **kwargs: Any) -> None:
        channel_session["by"] = "second"

    @channel_session
    def first(channel_session: Any, **kwargs: Any) -> None:
        second(**receive(order=1))
        channel_session["by"] = "first"

    first(**connect())
    assert channel_session(record)(**keepalive())["channel_session"]["by"] == "first"


def test_channel_session_needs_a_send_channel() -> None:
    with pytest.raises(ValueError, match="needs a message with a send_channel"):
        channel_session(record)(image_id=7)


def test_channel_session_refuses_signed_cookie_sessions(settings: Any) -> None:
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    with pytest.raises(ImproperlyConfigured, match="stores sessions on the server"):
        channel_session(record)(**connect())


def test_a_path_group_named_like_a_session_keyword_is_refused() -> None:
    with pytest.raises(TypeError, match="got channel_session from the message"):
        channel_session(record)(**keepalive(), channel_session="oops")


# How long a channel session lives: CHANNELS_SESSION_AGE from its last write, refreshed, swept.

AGE = 100


class Clock:
    """The time the session bookkeeping reads, moved by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Clock:
    """CHANNELS_SESSION_AGE of 100 s, a clock the test moves, and a sweeper that has not swept yet."""
    settings.CHANNELS_SESSION_AGE = AGE
    clock = Clock(1_000_000.0)
    monkeypatch.setattr(sessions, "_clock", clock)
    monkeypatch.setattr(sessions, "_sweeper", sessions._Sweeper())
    return clock


def row(send_channel: str) -> Session:
    return Session.objects.get(session_key=channel_session_key(send_channel))


def written_at(send_channel: str) -> float:
    return float(row(send_channel).get_decoded()[sessions._WRITTEN_AT_FIELD])


remember_room = channel_session(lambda channel_session, **kwargs: channel_session.update({"room": "lobby"}))


def test_a_channel_session_expires_channels_session_age_after_its_write(clock: Clock) -> None:
    before = timezone.now()
    remember_room(**connect())
    after = timezone.now()
    assert before + timedelta(seconds=AGE) <= row(SOCKET).expire_date <= after + timedelta(seconds=AGE)
    assert channel_session(record)(**keepalive())["channel_session"].get_expiry_age() == AGE


def test_the_default_age_is_an_hour_not_the_cookies_two_weeks() -> None:
    remember_room(**connect())
    assert row(SOCKET).expire_date <= timezone.now() + timedelta(seconds=3600)


def test_a_stored_channel_session_is_refreshed_only_once_half_its_age_has_passed(clock: Clock) -> None:
    remember_room(**connect())
    assert written_at(SOCKET) == clock.now
    connected_at, expires = clock.now, row(SOCKET).expire_date
    clock.now += AGE / 2 - 1
    channel_session(record)(**keepalive())
    assert (written_at(SOCKET), row(SOCKET).expire_date) == (connected_at, expires)  # no write
    clock.now += 1
    channel_session(record)(**keepalive())
    assert written_at(SOCKET) == clock.now
    assert row(SOCKET).expire_date > expires
    assert public(channel_session(record)(**keepalive())["channel_session"]) == {"room": "lobby"}


def test_state_stored_before_it_recorded_its_write_is_refreshed(clock: Clock) -> None:
    remember_room(**connect())
    state = import_module(settings.SESSION_ENGINE).SessionStore(channel_session_key(SOCKET))
    del state[sessions._WRITTEN_AT_FIELD]
    state.save()
    channel_session(record)(**keepalive())
    assert written_at(SOCKET) == clock.now


def test_a_socket_without_stored_state_costs_no_write_however_old(clock: Clock) -> None:
    clock.now += 10 * AGE
    channel_session(record)(**keepalive())
    assert not stored(SOCKET)


def expire(send_channel: str) -> None:
    """Make a stored channel session one that expired a second ago, as a lost disconnect leaves it in time."""
    Session.objects.filter(session_key=channel_session_key(send_channel)).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )


def test_expired_sessions_are_swept_at_most_once_per_quarter_age(clock: Clock) -> None:
    remember_room(**connect(SOCKET))
    remember_room(**connect(OTHER_SOCKET))  # the first call swept (nothing yet)
    expire(SOCKET)
    clock.now += AGE / 4 - 1
    channel_session(record)(**keepalive("!django.websocket.send.srv1.other"))
    assert stored(SOCKET)  # too soon after the last sweep
    clock.now += 1
    channel_session(record)(**keepalive("!django.websocket.send.srv1.other"))
    assert not stored(SOCKET)
    assert stored(OTHER_SOCKET)  # not expired: kept


def test_a_failed_sweep_is_logged_and_the_consumer_goes_on(
    clock: Clock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def fail() -> None:
        raise RuntimeError("database gone")

    store = import_module(settings.SESSION_ENGINE).SessionStore
    monkeypatch.setattr(store, "clear_expired", fail)
    assert channel_session(lambda **kwargs: "handled")(**keepalive()) == "handled"
    assert "could not delete expired sessions" in caplog.text


def test_a_store_that_cannot_clear_expired_sessions_is_left_to_expire_them_itself(
    clock: Clock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def unsupported() -> None:
        raise NotImplementedError  # as SessionBase.clear_expired, for stores that expire on their own

    store = import_module(settings.SESSION_ENGINE).SessionStore
    monkeypatch.setattr(store, "clear_expired", unsupported)
    remember_room(**connect())
    assert stored(SOCKET) and not caplog.records


def test_the_age_must_be_positive(settings: Any) -> None:
    settings.CHANNELS_SESSION_AGE = 0
    with pytest.raises(ImproperlyConfigured, match="CHANNELS_SESSION_AGE must be a positive number of seconds, not 0"):
        remember_room(**connect())


# http_session_user with channel_session: the user on every message of the socket.


def test_later_messages_of_the_socket_get_the_connecting_user(alice: User, alice_cookie: str) -> None:
    ws_consumer = channel_session(http_session_user(record))
    at_connect = ws_consumer(**connect(cookie=alice_cookie))
    assert at_connect["user"] == alice
    assert at_connect["channel_session"][HTTP_SESSION_KEY_FIELD] == at_connect["session"].session_key
    for got in (ws_consumer(**receive()), ws_consumer(**keepalive()), disconnected(ws_consumer)):
        assert got["user"] == alice
        assert got["session"].session_key == at_connect["session"].session_key
    assert not stored(SOCKET)


def test_an_anonymous_socket_stays_anonymous_and_costs_no_write() -> None:
    ws_consumer = channel_session(http_session_user(record))
    ws_consumer(**connect())
    assert not stored(SOCKET)
    assert isinstance(ws_consumer(**receive())["user"], AnonymousUser)


def test_logging_out_over_http_logs_the_socket_out(alice_cookie: str) -> None:
    ws_consumer = channel_session(http_session_user(record))
    ws_consumer(**connect(cookie=alice_cookie))
    browser = Client()
    browser.cookies.load(alice_cookie)
    browser.logout()
    assert isinstance(ws_consumer(**receive())["user"], AnonymousUser)


def test_two_sockets_of_two_users_keep_their_users(alice: User, alice_cookie: str) -> None:
    bob = User.objects.create_user("bob")
    browser = Client()
    browser.force_login(bob)
    bob_cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"
    ws_consumer = channel_session(http_session_user(record))
    ws_consumer(**connect(SOCKET, cookie=alice_cookie))
    ws_consumer(**connect(OTHER_SOCKET, cookie=bob_cookie))
    assert ws_consumer(**receive(SOCKET))["user"] == alice
    assert ws_consumer(**receive(OTHER_SOCKET))["user"] == bob


@pytest.mark.parametrize("decorate", [http_session, http_session_user])
def test_channel_session_below_an_http_decorator_is_refused(decorate: Any) -> None:
    with pytest.raises(TypeError, match=f"put @channel_session above @{decorate.__name__} on record"):
        decorate(channel_session(record))


# Through the registry, with @consumer above (documented) or below the session decorators.


@consumer("django.websocket.connect", path=r"^/chat/(?P<room>\w+)/$")
@consumer("django.websocket.receive", path=r"^/chat/(?P<room>\w+)/$")
@channel_session
@http_session_user
def chat_consumer_outermost(
    room: str, session: Any, channel_session: Any, user: Any, text: str = "", **kwargs: Any
) -> dict[str, Any]:
    channel_session.setdefault("heard", []).append(text)
    channel_session.modified = True  # the list was changed in place
    return {"room": room, "user": user, "heard": list(channel_session["heard"])}


@channel_session
@http_session_user
@consumer("django.websocket.connect", path=r"^/chat/(?P<room>\w+)/$")
@consumer("django.websocket.receive", path=r"^/chat/(?P<room>\w+)/$")
def chat_consumer_innermost(
    room: str, session: Any, channel_session: Any, user: Any, text: str = "", **kwargs: Any
) -> dict[str, Any]:
    channel_session.setdefault("heard", []).append(text)
    channel_session.modified = True
    return {"room": room, "user": user, "heard": list(channel_session["heard"])}


def dispatch(registry: Registry, channel: str, message: dict[str, Any]) -> Any:
    found = registry.match(channel, message)
    assert found is not None
    binding, extra = found
    return binding.function(**message, **extra)


@pytest.mark.parametrize("chat_consumer", [chat_consumer_outermost, chat_consumer_innermost])
def test_either_decorator_order_works_through_the_registry(chat_consumer: Any, alice: User, alice_cookie: str) -> None:
    registry = Registry([chat_consumer])
    assert registry.channels == ["django.websocket.connect", "django.websocket.receive"]
    at_connect = dispatch(registry, "django.websocket.connect", connect(cookie=alice_cookie))
    assert at_connect == {"room": "lobby", "user": alice, "heard": [""]}
    at_receive = dispatch(registry, "django.websocket.receive", receive(text="hello"))
    assert at_receive == {"room": "lobby", "user": alice, "heard": ["", "hello"]}


def test_wrappers_keep_the_name_and_the_bindings() -> None:
    assert chat_consumer_innermost.__name__ == "chat_consumer_innermost"
    assert [b.channel for b in getattr(chat_consumer_innermost, BINDINGS_ATTRIBUTE)] == [
        "django.websocket.receive",
        "django.websocket.connect",
    ]
