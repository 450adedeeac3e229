"""``@consumer``: it records bindings on the function and nothing else."""

from __future__ import annotations

import re

import pytest

from channels_core.decorators import BINDINGS_ATTRIBUTE, Binding, consumer
from channels_core.exceptions import InvalidChannelName


def plain(**kwargs):
    return kwargs


def test_decorator_returns_the_function_unchanged() -> None:
    def handler(**kwargs):
        return "ran"

    decorated = consumer("chat.receive")(handler)
    assert decorated is handler
    assert decorated(text="hi") == "ran"


def test_one_binding_is_recorded() -> None:
    @consumer("thumbnailer.create")
    def create(**kwargs): ...

    [binding] = getattr(create, BINDINGS_ATTRIBUTE)
    assert binding == Binding("thumbnailer.create", None, create)


def test_stacking_records_every_binding() -> None:
    @consumer("django.websocket.connect", path=r"^/chat/$")
    @consumer("django.websocket.keepalive")
    @consumer("django.websocket.disconnect")
    def ws_handler(**kwargs): ...

    bindings = getattr(ws_handler, BINDINGS_ATTRIBUTE)
    assert [b.channel for b in bindings] == [
        "django.websocket.disconnect",
        "django.websocket.keepalive",
        "django.websocket.connect",
    ]
    assert all(b.function is ws_handler for b in bindings)
    assert [b.path.pattern if b.path else None for b in bindings] == [None, None, r"^/chat/$"]


def test_binding_one_function_does_not_touch_another() -> None:
    def first(**kwargs): ...

    consumer("a.one")(first)
    second = consumer("a.two")(lambda **kwargs: None)
    assert [b.channel for b in getattr(first, BINDINGS_ATTRIBUTE)] == ["a.one"]
    assert [b.channel for b in getattr(second, BINDINGS_ATTRIBUTE)] == ["a.two"]


@pytest.mark.parametrize("channel", ["!django.wsgi.response", "!django.websocket.send.srv1.abc"])
def test_response_channels_are_refused(channel: str) -> None:
    with pytest.raises(InvalidChannelName, match=f"cannot bind a consumer to response channel {channel!r}"):
        consumer(channel)


@pytest.mark.parametrize(("channel", "rule"), [("chat room", "contains ' '"), ("", "is empty"), ("a" * 200, "200")])
def test_bad_channel_names_are_refused(channel: str, rule: str) -> None:
    with pytest.raises(InvalidChannelName, match=rule):
        consumer(channel)


def test_nothing_is_recorded_when_the_decorator_is_refused() -> None:
    with pytest.raises(InvalidChannelName):
        consumer("!response")(plain)
    assert not hasattr(plain, BINDINGS_ATTRIBUTE)


# Binding.match: the extra keyword arguments for a message, or None.


def test_binding_without_pattern_matches_every_message() -> None:
    binding = Binding("chat", None, plain)
    assert binding.match({}) == {}
    assert binding.match({"path": "/anything/"}) == {}


def test_binding_pattern_gives_named_groups() -> None:
    [binding] = getattr(
        consumer("django.websocket.connect", path=r"^/liveblog/(?P<slug>[-\w]+)/stream/$")(lambda **kw: None),
        BINDINGS_ATTRIBUTE,
    )
    assert binding.match({"path": "/liveblog/big-news/stream/"}) == {"slug": "big-news"}
    assert binding.match({"path": "/liveblog/big-news/"}) is None


@pytest.mark.parametrize("message", [{}, {"path": None}, {"path": 7}, {"path": ["/chat/"]}])
def test_binding_pattern_does_not_match_a_missing_or_odd_path(message: dict) -> None:
    binding = Binding("chat", re.compile(r"^/chat/$"), plain)
    assert binding.match(message) is None


def test_binding_name_is_module_and_qualname() -> None:
    assert Binding("chat", None, plain).name == "tests.channels_core.test_decorators.plain"
