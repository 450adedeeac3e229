"""The registry: which consumer runs for a message, conflicts at start-up, channel selection, discovery."""

from __future__ import annotations

import functools

import pytest

from channels_core.decorators import consumer
from channels_core.exceptions import ConsumerConflict
from channels_core.registry import Registry, discover_consumers, registry_from_apps
from tests.testapp import consumers as testapp_consumers

MODULE = __name__

# Consumers for the dispatch tests. The catch-all is defined first on purpose.


@consumer("django.websocket.connect")
def ws_anything(**kwargs): ...


@consumer("django.websocket.connect", path=r"^/liveblog/(?P<slug>[-\w]+)/stream/$")
def ws_liveblog(send_channel, slug, **kwargs): ...


@consumer("django.websocket.connect", path=r"^/chat/(?P<room>\w+)/$")
@consumer("django.websocket.receive", path=r"^/chat/(?P<room>\w+)/$")
def ws_chat(**kwargs): ...


@consumer("thumbnailer.create")
def thumbnail(**kwargs): ...


# Consumers that conflict with the ones above.


@consumer("thumbnailer.create")
def thumbnail_again(**kwargs): ...


@consumer("django.websocket.connect", path=r"^/chat/(?P<room>\w+)/$")
def chat_again(**kwargs): ...


@consumer("django.websocket.receive", path=r"^/liveblog/(?P<slug>[-\w]+)/stream/$")
def liveblog_on_another_channel(**kwargs): ...


@pytest.fixture
def registry() -> Registry:
    return Registry([ws_anything, ws_liveblog, ws_chat, thumbnail])


def test_channels_are_every_bound_channel_sorted(registry: Registry) -> None:
    assert registry.channels == ["django.websocket.connect", "django.websocket.receive", "thumbnailer.create"]


def test_patterned_consumers_are_tried_before_the_catch_all(registry: Registry) -> None:
    assert [b.function for b in registry.bindings("django.websocket.connect")] == [ws_liveblog, ws_chat, ws_anything]


def test_matching_pattern_wins_over_the_catch_all(registry: Registry) -> None:
    found = registry.match("django.websocket.connect", {"path": "/liveblog/big-news/stream/", "send_channel": "!s.a"})
    assert found is not None
    binding, extra = found
    assert binding.function is ws_liveblog
    assert extra == {"slug": "big-news"}


def test_every_named_group_becomes_a_keyword(registry: Registry) -> None:
    found = registry.match("django.websocket.receive", {"path": "/chat/lobby/"})
    assert found is not None
    assert found[0].function is ws_chat
    assert found[1] == {"room": "lobby"}


@pytest.mark.parametrize("message", [{"path": "/elsewhere/"}, {}, {"path": None}])
def test_catch_all_takes_what_no_pattern_matches(registry: Registry, message: dict) -> None:
    found = registry.match("django.websocket.connect", message)
    assert found is not None
    assert found[0].function is ws_anything
    assert found[1] == {}


def test_no_match_is_none(registry: Registry) -> None:
    assert registry.match("django.websocket.receive", {"path": "/elsewhere/"}) is None
    assert registry.match("django.websocket.receive", {}) is None
    assert registry.match("nobody.listens", {"path": "/chat/lobby/"}) is None


def test_unbound_channel_has_no_bindings(registry: Registry) -> None:
    assert registry.bindings("nobody.listens") == []


def test_functions_without_bindings_are_ignored() -> None:
    def not_a_consumer(**kwargs): ...

    assert Registry([not_a_consumer, thumbnail]).channels == ["thumbnailer.create"]


# Conflicts.


def test_two_catch_alls_on_one_channel_conflict_naming_both() -> None:
    with pytest.raises(ConsumerConflict) as caught:
        Registry([thumbnail, thumbnail_again])
    message = str(caught.value)
    assert f"{MODULE}.thumbnail " in message
    assert f"{MODULE}.thumbnail_again " in message
    assert "every message (no path pattern)" in message
    assert "'thumbnailer.create'" in message


def test_same_pattern_on_one_channel_conflicts_naming_both() -> None:
    with pytest.raises(ConsumerConflict) as caught:
        Registry([ws_chat, chat_again])
    message = str(caught.value)
    assert f"{MODULE}.ws_chat " in message
    assert f"{MODULE}.chat_again " in message
    assert repr(r"^/chat/(?P<room>\w+)/$") in message
    assert "'django.websocket.connect'" in message


def test_conflict_names_nested_consumers_by_qualname() -> None:
    class Handlers:
        @staticmethod
        @consumer("images.resize")
        def first(**kwargs): ...

        @staticmethod
        @consumer("images.resize")
        def second(**kwargs): ...

    with pytest.raises(ConsumerConflict) as caught:
        Registry([Handlers.first, Handlers.second])
    message = str(caught.value)
    assert f"{MODULE}.{Handlers.first.__qualname__}" in message
    assert f"{MODULE}.{Handlers.second.__qualname__}" in message


def test_same_pattern_on_different_channels_is_no_conflict() -> None:
    registry = Registry([ws_liveblog, liveblog_on_another_channel])
    assert registry.channels == ["django.websocket.connect", "django.websocket.receive"]


def test_different_patterns_and_one_catch_all_are_no_conflict(registry: Registry) -> None:
    assert len(registry.bindings("django.websocket.connect")) == 3


def test_one_function_reached_twice_is_no_conflict() -> None:
    """A consumer imported into a second module is found twice by discovery; it counts once."""
    registry = Registry([thumbnail, ws_chat, thumbnail, ws_chat])
    assert [b.function for b in registry.bindings("thumbnailer.create")] == [thumbnail]
    assert [b.function for b in registry.bindings("django.websocket.receive")] == [ws_chat]


# Selecting channels (runworker --only-channels / --exclude-channels).


@pytest.fixture
def wide_registry() -> Registry:
    names = ["thumbnailer.create", "thumbnailer.delete", "chat.receive", "chat.connect", "liveblog.post"]
    functions = [consumer(name)(lambda **kwargs: None) for name in names]
    return Registry(functions)


@pytest.mark.parametrize(
    ("only", "exclude", "expected"),
    [
        ((), (), ["chat.connect", "chat.receive", "liveblog.post", "thumbnailer.create", "thumbnailer.delete"]),
        (["thumbnailer.*"], (), ["thumbnailer.create", "thumbnailer.delete"]),
        (["thumbnailer.*", "chat.receive"], (), ["chat.receive", "thumbnailer.create", "thumbnailer.delete"]),
        ((), ["thumbnailer.*"], ["chat.connect", "chat.receive", "liveblog.post"]),
        (["chat.*"], ["*.connect"], ["chat.receive"]),
        (["chat.[rx]eceive"], (), ["chat.receive"]),
        (["chat.?eceive"], (), ["chat.receive"]),
        (["nothing.*"], (), []),
        (["Chat.*"], (), []),  # case-sensitive, like channel names
        ((), ["*"], []),
    ],
)
def test_select(wide_registry: Registry, only, exclude, expected: list[str]) -> None:
    assert wide_registry.select(only, exclude) == expected


# Discovery from installed apps.

TESTAPP_CONSUMERS = {testapp_consumers.record_message, testapp_consumers.echo, testapp_consumers.fail}


def test_discovery_finds_the_test_app_consumers_once() -> None:
    found = discover_consumers()
    assert set(found) >= TESTAPP_CONSUMERS
    assert len(found) == len(set(found))


def test_discovery_skips_non_consumers() -> None:
    found = discover_consumers()
    assert testapp_consumers.record not in found
    assert testapp_consumers.Channel not in found
    assert testapp_consumers.consumer not in found


def test_registry_from_apps_serves_the_test_app_channels() -> None:
    registry = registry_from_apps()
    assert {"tests.record", "tests.echo", "tests.fail"} <= set(registry.channels)
    found = registry.match("tests.echo", {"reply_to": "x", "text": "hi"})
    assert found is not None
    assert found[0].function is testapp_consumers.echo


def test_a_decorator_wrapping_a_consumer_runs_too() -> None:
    """``@consumer`` under another decorator: the outer wrapper is what the worker calls."""
    calls = []

    def logged(function):
        @functools.wraps(function)
        def wrapper(**kwargs):
            calls.append("wrapper")
            return function(**kwargs)

        return wrapper

    @logged
    @consumer("wrapped.channel")
    def inner(**kwargs):
        calls.append("inner")

    binding, extra = Registry([inner]).match("wrapped.channel", {})
    binding.function(**extra)
    assert calls == ["wrapper", "inner"]
