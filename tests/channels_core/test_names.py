"""Channel and group names: the rules, response channels and their inboxes."""

from __future__ import annotations

import pytest

from channels_core.defaults import MAX_NAME_LENGTH
from channels_core.exceptions import InvalidChannelName
from channels_core.names import (
    inbox_of,
    is_response_channel,
    new_channel_name,
    validate_channel_name,
    validate_group_name,
)

# Validation.


@pytest.mark.parametrize(
    "name",
    [
        "chat",
        "django.websocket.connect",
        "thumbnailer.create",
        "a-b_c.D9",
        "!django.wsgi.response.k3J9",
        "!x",
        "a" * (MAX_NAME_LENGTH - 1),
        "!" + "a" * (MAX_NAME_LENGTH - 2),
    ],
)
def test_valid_channel_names_are_returned_unchanged(name: str) -> None:
    assert validate_channel_name(name) == name


@pytest.mark.parametrize("name", ["liveblog", "chat.room-1", "a_b.C9", "g" * (MAX_NAME_LENGTH - 1)])
def test_valid_group_names_are_returned_unchanged(name: str) -> None:
    assert validate_group_name(name) == name


@pytest.mark.parametrize("validate", [validate_channel_name, validate_group_name])
def test_empty_name_is_refused(validate) -> None:
    with pytest.raises(InvalidChannelName, match="is empty"):
        validate("")


def test_bare_response_prefix_is_an_empty_channel_name() -> None:
    with pytest.raises(InvalidChannelName, match=r"channel name '!' is empty"):
        validate_channel_name("!")


@pytest.mark.parametrize(
    ("validate", "kind"),
    [(validate_channel_name, "channel"), (validate_group_name, "group")],
)
def test_names_of_the_limit_or_longer_are_refused(validate, kind: str) -> None:
    name = "a" * MAX_NAME_LENGTH
    with pytest.raises(InvalidChannelName) as caught:
        validate(name)
    assert str(caught.value) == (
        f"{kind} name {name!r} has {MAX_NAME_LENGTH} characters; names must be shorter than {MAX_NAME_LENGTH}"
    )


def test_response_prefix_counts_towards_the_length() -> None:
    with pytest.raises(InvalidChannelName, match="has 200 characters"):
        validate_channel_name("!" + "a" * (MAX_NAME_LENGTH - 1))


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("chat room", " "),
        ("chat/room", "/"),
        ("café", "é"),
        ("chat:1", ":"),
        ("chat\n", "\n"),
        ("!!double", "!"),
        ("mid!dle", "!"),
        ("!resp onse", " "),
    ],
)
def test_forbidden_character_in_channel_name_is_named(name: str, bad: str) -> None:
    with pytest.raises(InvalidChannelName) as caught:
        validate_channel_name(name)
    message = str(caught.value)
    assert message.startswith(f"channel name {name!r} contains {bad!r}; only a-z A-Z 0-9 - _ . are allowed")
    assert "(and '!' as the first character of a response channel)" in message


@pytest.mark.parametrize(("name", "bad"), [("!liveblog", "!"), ("live blog", " "), ("blog/1", "/")])
def test_forbidden_character_in_group_name_is_named(name: str, bad: str) -> None:
    with pytest.raises(InvalidChannelName) as caught:
        validate_group_name(name)
    assert str(caught.value) == f"group name {name!r} contains {bad!r}; only a-z A-Z 0-9 - _ . are allowed"


@pytest.mark.parametrize(("validate", "kind"), [(validate_channel_name, "channel"), (validate_group_name, "group")])
@pytest.mark.parametrize(("value", "type_name"), [(None, "NoneType"), (b"chat", "bytes"), (7, "int")])
def test_non_string_names_are_refused_with_their_type(validate, kind: str, value: object, type_name: str) -> None:
    with pytest.raises(InvalidChannelName) as caught:
        validate(value)
    assert str(caught.value) == f"{kind} name must be a str, not {type_name}"


def test_invalid_name_is_also_a_value_error() -> None:
    with pytest.raises(ValueError, match="contains"):
        validate_channel_name("bad name")


# Response channels and inboxes.


@pytest.mark.parametrize(
    ("name", "expected"),
    [("!django.wsgi.response.abc", True), ("!x", True), ("django.wsgi.request", False), ("x!", False)],
)
def test_is_response_channel(name: str, expected: bool) -> None:
    assert is_response_channel(name) is expected


@pytest.mark.parametrize(
    ("name", "inbox"),
    [
        ("thumbnailer.create", "thumbnailer.create"),  # a normal channel is its own queue
        ("a.b.c", "a.b.c"),
        ("!a.b.c", "!a.b"),
        ("!django.websocket.send.srv1.k3J9", "!django.websocket.send.srv1"),
        ("!a", "!a"),  # no dot: its own inbox
        ("!.x", "!.x"),  # the inbox would be the bare prefix, which is no channel
    ],
)
def test_inbox_of(name: str, inbox: str) -> None:
    assert inbox_of(name) == inbox


# New names.


@pytest.mark.parametrize("prefix", ["thumbnailer.jobs", "!django.wsgi.response", "x"])
def test_new_name_is_one_level_below_the_prefix_and_valid(prefix: str) -> None:
    name = new_channel_name(prefix)
    assert name.startswith(prefix + ".")
    suffix = name.removeprefix(prefix + ".")
    assert suffix
    assert "." not in suffix
    assert validate_channel_name(name) == name


def test_new_names_are_unique() -> None:
    names = [new_channel_name("!django.wsgi.response") for _ in range(10_000)]
    assert len(set(names)) == len(names)


def test_new_response_name_lands_in_the_prefix_inbox() -> None:
    prefix = "!django.websocket.send.srv1"
    name = new_channel_name(prefix)
    assert is_response_channel(name)
    assert inbox_of(name) == prefix


def test_new_normal_name_is_its_own_queue() -> None:
    name = new_channel_name("thumbnailer.jobs")
    assert not is_response_channel(name)
    assert inbox_of(name) == name


@pytest.mark.parametrize("prefix", ["", "!", "bad prefix", "a" * MAX_NAME_LENGTH])
def test_new_name_refuses_a_bad_prefix(prefix: str) -> None:
    with pytest.raises(InvalidChannelName):
        new_channel_name(prefix)
