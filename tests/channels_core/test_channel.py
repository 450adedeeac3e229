"""The public API, ``Channel`` and ``Group`` on configured backends, and the exceptions tree."""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import pytest
from django.core.exceptions import ImproperlyConfigured
from pytest_django.fixtures import Settings

import channels_core
from channels_core import Channel, Group, exceptions
from channels_core.backends import backends, get_backend
from channels_core.backends.database import DatabaseBackend
from channels_core.backends.memory import InMemoryBackend
from channels_core.exceptions import (
    ChannelsError,
    InvalidChannelName,
    InvalidMessage,
    MessageTooLarge,
)
from channels_core.held_replies import holding_replies
from channels_core.names import inbox_of

MEMORY = "channels_core.backends.memory.InMemoryBackend"


@pytest.fixture
def memory(settings: Settings) -> Settings:
    """Two in-memory aliases, so each test starts on fresh, empty backends."""
    settings.CHANNEL_BACKENDS = {"default": {"BACKEND": MEMORY}, "bulk": {"BACKEND": MEMORY, "CAPACITY": 2}}
    return settings


@pytest.fixture
def no_setting(settings: Settings) -> Iterator[Settings]:
    """No ``CHANNEL_BACKENDS`` at all.

    Deleting a setting sends no ``setting_changed`` (Django only signals values
    it overrides), neither now nor when it is restored, so the cache is reset by hand.
    """
    settings.CHANNEL_BACKENDS = {"default": {"BACKEND": "channels_core.backends.database.DatabaseBackend"}}
    assert type(get_backend()) is DatabaseBackend  # something else is cached before the deletion
    del settings.CHANNEL_BACKENDS
    backends.reset()
    yield settings
    backends.reset()


# The default backend.


def test_no_setting_means_the_in_memory_backend(no_setting: Settings) -> None:
    backend = Channel("chat.receive").backend
    assert type(backend) is InMemoryBackend
    assert backend.alias == "default"


def test_empty_setting_means_the_in_memory_backend(settings: Settings) -> None:
    settings.CHANNEL_BACKENDS = {}
    assert type(get_backend()) is InMemoryBackend


def test_no_setting_sends_and_receives_in_process(no_setting: Settings) -> None:
    Channel("thumbnailer.create").send({"image_id": 7})
    assert get_backend().receive(["thumbnailer.create"]) == ("thumbnailer.create", {"image_id": 7})


def test_every_handle_shares_one_backend_per_alias(memory: Settings) -> None:
    assert Channel("a").backend is Channel("b").backend is Group("g").backend is get_backend("default")
    assert Channel("a", alias="bulk").backend is get_backend("bulk")
    assert get_backend("bulk") is not get_backend("default")


def test_alias_picks_the_backend(memory: Settings) -> None:
    Channel("jobs.one", alias="bulk").send(n=1)
    assert get_backend("default").receive(["jobs.one"]) is None
    assert get_backend("bulk").receive(["jobs.one"]) == ("jobs.one", {"n": 1})
    assert get_backend("bulk").capacity == 2


def test_backend_cache_is_reset_when_the_setting_changes(memory: Settings) -> None:
    before = backends["default"]
    assert backends["default"] is before
    Channel("jobs.kept").send(n=1)

    memory.CHANNEL_BACKENDS = {"default": {"BACKEND": MEMORY, "CAPACITY": 5}}
    after = backends["default"]
    assert after is not before
    assert after.capacity == 5
    assert after.receive(["jobs.kept"]) is None  # a new, empty backend
    assert before.receive(["jobs.kept"]) == ("jobs.kept", {"n": 1})


def test_unknown_alias_names_the_configured_ones(memory: Settings) -> None:
    with pytest.raises(ImproperlyConfigured) as caught:
        Channel("jobs.one", alias="nope").send(n=1)
    assert str(caught.value) == "no channel backend 'nope' in CHANNEL_BACKENDS (configured: default, bulk)"


def test_unknown_alias_without_a_setting_names_the_default(no_setting: Settings) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"no channel backend 'other' .*\(configured: default\)"):
        Group("g", alias="other").channels()


@pytest.mark.parametrize(
    "path",
    [
        "channels_core.backends.nope.NopeBackend",  # no such module
        "channels_core.backends.memory.NopeBackend",  # no such class
        "nodots",  # not a dotted path at all
    ],
)
def test_backend_that_does_not_import_is_improperly_configured(settings: Settings, path: str) -> None:
    settings.CHANNEL_BACKENDS = {"default": {"BACKEND": path}}
    with pytest.raises(ImproperlyConfigured) as caught:
        Channel("jobs.one").send(n=1)
    assert str(caught.value).startswith(f"CHANNEL_BACKENDS['default']['BACKEND'] = {path!r} cannot be imported: ")


@pytest.mark.parametrize("path", ["collections.OrderedDict", "channels_core.defaults.BACKEND"])
def test_backend_that_is_not_a_backend_class_is_improperly_configured(settings: Settings, path: str) -> None:
    settings.CHANNEL_BACKENDS = {"default": {"BACKEND": path}}
    with pytest.raises(ImproperlyConfigured) as caught:
        get_backend()
    assert str(caught.value) == f"CHANNEL_BACKENDS['default']['BACKEND'] = {path!r} is not a backend class"


def test_bad_backend_is_not_cached(settings: Settings) -> None:
    settings.CHANNEL_BACKENDS = {"default": {"BACKEND": "channels_core.backends.nope.NopeBackend"}}
    for _ in range(2):
        with pytest.raises(ImproperlyConfigured):
            get_backend()


# Channel.


def test_channel_send_a_dict(memory: Settings) -> None:
    Channel("thumbnailer.create").send({"image_id": 7, "sizes": [64, 128]})
    assert get_backend().receive(["thumbnailer.create"]) == ("thumbnailer.create", {"image_id": 7, "sizes": [64, 128]})


def test_channel_send_keywords(memory: Settings) -> None:
    Channel("!django.websocket.send.srv1.abc").send(id=1, content="hello")
    assert get_backend().receive_inbox("!django.websocket.send.srv1") == [
        ("!django.websocket.send.srv1.abc", {"id": 1, "content": "hello"})
    ]


def test_channel_send_a_dict_with_a_key_named_like_the_parameter(memory: Settings) -> None:
    """The dict is positional-only, so ``message=`` is an ordinary key."""
    Channel("jobs.one").send(message="hi")
    assert get_backend().receive(["jobs.one"]) == ("jobs.one", {"message": "hi"})


def test_channel_send_both_dict_and_keywords_is_a_type_error(memory: Settings) -> None:
    with pytest.raises(TypeError, match="a dict or keyword arguments, not both"):
        Channel("jobs.one").send({"a": 1}, b=2)
    assert get_backend().receive(["jobs.one"]) is None


def test_channel_send_a_non_dict_names_the_channel_and_type(memory: Settings) -> None:
    with pytest.raises(InvalidMessage, match=r"^message to 'jobs\.one' must be a dict, not list$"):
        Channel("jobs.one").send([1, 2])  # type: ignore[arg-type]


def test_channel_refuses_a_bad_name_at_once() -> None:
    with pytest.raises(InvalidChannelName, match="contains ' '"):
        Channel("bad name")


def test_channel_equality_and_hash() -> None:
    assert Channel("a.b") == Channel("a.b")
    assert Channel("a.b") != Channel("a.b", alias="bulk")
    assert Channel("a.b") != Channel("a.c")
    assert Channel("a.b") != "a.b"
    assert len({Channel("a.b"), Channel("a.b"), Channel("a.c")}) == 2
    assert repr(Channel("a.b")) == "Channel('a.b')"


def test_channel_new_name() -> None:
    names = {Channel.new_name("!django.wsgi.response") for _ in range(1000)}
    assert len(names) == 1000
    for name in names:
        assert name.startswith("!django.wsgi.response.")
        assert inbox_of(name) == "!django.wsgi.response"


def test_channel_new_name_is_reachable_through_its_inbox(memory: Settings) -> None:
    name = Channel.new_name("!django.wsgi.response")
    Channel(name).send(status=200)
    assert get_backend().receive_inbox("!django.wsgi.response") == [(name, {"status": 200})]


# Group.


def test_group_add_channels_discard(memory: Settings) -> None:
    group = Group("liveblog")
    assert group.channels() == []
    group.add("!ws.srv1.a")
    group.add("!ws.srv1.b")
    group.add("!ws.srv1.a")  # refreshing is not adding twice
    assert sorted(group.channels()) == ["!ws.srv1.a", "!ws.srv1.b"]
    group.discard("!ws.srv1.a")
    group.discard("!ws.srv1.never-added")
    assert group.channels() == ["!ws.srv1.b"]
    assert Group("other").channels() == []


def test_group_send_reaches_every_member_once(memory: Settings) -> None:
    group = Group("liveblog")
    for name in ["!ws.srv1.a", "!ws.srv2.b", "notify.c"]:
        group.add(name)
    result = group.send(id=1, content="x")
    assert (result.delivered, result.skipped) == (3, 0)
    backend = get_backend()
    received = backend.receive_inbox("!ws.srv1") + backend.receive_inbox("!ws.srv2") + [backend.receive(["notify.c"])]
    assert received == [
        ("!ws.srv1.a", {"id": 1, "content": "x"}),
        ("!ws.srv2.b", {"id": 1, "content": "x"}),
        ("notify.c", {"id": 1, "content": "x"}),
    ]
    assert backend.receive_inbox("!ws.srv1") == backend.receive_inbox("!ws.srv2") == []
    assert backend.receive(["notify.c"]) is None


def test_group_send_a_dict_and_not_to_discarded_members(memory: Settings) -> None:
    group = Group("liveblog")
    group.add("feed.a")
    group.add("feed.b")
    group.discard("feed.a")
    assert group.send({"id": 2}).delivered == 1
    assert get_backend().receive(["feed.a", "feed.b"]) == ("feed.b", {"id": 2})


def test_group_send_skips_a_full_member_without_raising(memory: Settings) -> None:
    bulk = Group("bulk.members", alias="bulk")  # capacity 2
    bulk.add("feed.full")
    bulk.add("feed.free")
    for n in range(2):
        Channel("feed.full", alias="bulk").send(n=n)
    result = bulk.send(n=99)
    assert (result.delivered, result.skipped) == (1, 1)


def test_group_send_both_dict_and_keywords_is_a_type_error(memory: Settings) -> None:
    Group("liveblog").add("feed.a")
    with pytest.raises(TypeError, match="not both"):
        Group("liveblog").send({"a": 1}, b=2)
    assert get_backend().receive(["feed.a"]) is None


def test_group_refuses_bad_names(memory: Settings) -> None:
    with pytest.raises(InvalidChannelName, match="group name '!liveblog' contains '!'"):
        Group("!liveblog")
    with pytest.raises(InvalidChannelName, match="channel name 'bad name'"):
        Group("liveblog").add("bad name")
    assert repr(Group("liveblog")) == "Group('liveblog')"


def test_group_position_and_add_since(settings: Settings) -> None:
    settings.CHANNEL_BACKENDS = {"default": {"BACKEND": MEMORY, "GROUP_HISTORY": {"liveblog-*": 10}}}
    group = Group("liveblog-1")
    rendered = group.position()  # what a page renders
    assert rendered == {"group": "liveblog-1", "epoch": rendered["epoch"], "offset": 0}
    assert group.add("feed.early") is None, "a plain add is unchanged"
    sent = group.send(id=1)
    assert sent.position == {**rendered, "offset": 1}
    recovery = group.add("feed.late", since=rendered)
    assert (recovery.recovered, recovery.replayed) == (True, 1)
    backend = get_backend()
    expected = {"position": sent.position, "id": 1}
    assert backend.receive(["feed.late"]) == ("feed.late", expected)
    assert backend.receive(["feed.early"]) == ("feed.early", expected)
    with pytest.raises(ValueError, match="'liveblog' has no history"):
        Group("liveblog").position()
    with pytest.raises(InvalidMessage, match="'position' key"):
        group.send(position=rendered)


def test_held_replies_go_before_a_replay(settings: Settings) -> None:
    settings.CHANNEL_BACKENDS = {"default": {"BACKEND": MEMORY, "GROUP_HISTORY": {"liveblog-*": 10}}}
    group, socket = Group("liveblog-1"), "!django.websocket.send.srv.a"
    rendered = group.position()
    group.send(id=1)
    with holding_replies(get_backend()):
        Channel(socket).send(accept=True)  # held until the batch ends
        group.add(socket, since=rendered)
    received = get_backend().receive_inbox("!django.websocket.send.srv")
    assert [sorted(message) for _, message in received] == [["accept"], ["id", "position"]]


# The public surface and the exceptions tree.


def test_public_api() -> None:
    assert channels_core.__all__ == ["Channel", "Group"]
    assert channels_core.Channel is Channel
    assert channels_core.Group is Group


EXCEPTIONS = [
    member for _, member in inspect.getmembers(exceptions, inspect.isclass) if issubclass(member, BaseException)
]


def test_every_exception_is_listed_in_all() -> None:
    assert sorted(e.__name__ for e in EXCEPTIONS) == sorted(exceptions.__all__)


@pytest.mark.parametrize("error", EXCEPTIONS, ids=lambda e: e.__name__)
def test_every_exception_derives_from_channels_error(error: type[BaseException]) -> None:
    assert issubclass(error, ChannelsError)
    assert error.__module__ == "channels_core.exceptions"


@pytest.mark.parametrize("error", [InvalidChannelName, InvalidMessage, MessageTooLarge])
def test_bad_input_errors_are_value_errors(error: type[Exception]) -> None:
    assert issubclass(error, ValueError)


def test_message_too_large_is_an_invalid_message() -> None:
    assert issubclass(MessageTooLarge, InvalidMessage)
    with pytest.raises(InvalidMessage):
        raise MessageTooLarge("too big")
