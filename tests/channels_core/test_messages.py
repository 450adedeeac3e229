"""Encoding messages: compact UTF-8 JSON dicts of at most 1 MiB, with errors that name channel and size."""

from __future__ import annotations

import json

import pytest

from channels_core.defaults import MAX_MESSAGE_SIZE
from channels_core.exceptions import InvalidMessage, MessageTooLarge
from channels_core.messages import decode_message, encode_message, format_size, with_position

#: Bytes of ``{"t":""}``: a message with one string value costs this much besides the string.
OVERHEAD = len(b'{"t":""}')


def test_round_trip() -> None:
    message = {"text": "héllo ✓ 🎉", "n": 7, "x": 2.5, "ok": True, "none": None, "list": [1, [2]], "d": {"k": {}}}
    encoded = encode_message("chat.receive", message)
    assert isinstance(encoded, bytes)
    assert decode_message(encoded) == message
    assert decode_message(encoded.decode("utf-8")) == message


def test_encoding_is_compact_utf8() -> None:
    encoded = encode_message("chat", {"a": [1, 2], "b": "é"})
    assert encoded == '{"a":[1,2],"b":"é"}'.encode()


def test_message_of_exactly_the_limit_is_accepted() -> None:
    message = {"t": "a" * (MAX_MESSAGE_SIZE - OVERHEAD)}
    assert len(encode_message("big", message)) == MAX_MESSAGE_SIZE


def test_one_byte_over_the_limit_is_too_large() -> None:
    with pytest.raises(MessageTooLarge) as caught:
        encode_message("big.one", {"t": "a" * (MAX_MESSAGE_SIZE - OVERHEAD + 1)})
    assert str(caught.value) == (
        f"message to 'big.one' is 1.0 MiB ({MAX_MESSAGE_SIZE + 1} bytes); "
        f"the limit is 1.0 MiB ({MAX_MESSAGE_SIZE} bytes)"
    )


def test_size_counts_utf8_bytes_not_characters() -> None:
    """Fewer characters than the limit, but each 'é' is two bytes once encoded."""
    text = "é" * (MAX_MESSAGE_SIZE // 2)
    assert len(json.dumps({"t": text}, ensure_ascii=False)) < MAX_MESSAGE_SIZE
    with pytest.raises(MessageTooLarge, match=rf"'chat\.room' is 1\.0 MiB \({MAX_MESSAGE_SIZE + OVERHEAD} bytes\)"):
        encode_message("chat.room", {"t": text})


def test_non_ascii_is_not_escaped_so_it_fits() -> None:
    """``\\u00e9`` would be six bytes; raw UTF-8 is two, so this message fits."""
    text = "é" * ((MAX_MESSAGE_SIZE - OVERHEAD) // 2)
    assert len(encode_message("chat", {"t": text})) == OVERHEAD + 2 * len(text)


def test_too_large_message_names_the_size_readably() -> None:
    size = 1_468_006
    with pytest.raises(MessageTooLarge, match=r"message to 'chat\.room' is 1\.4 MiB \(1468006 bytes\)"):
        encode_message("chat.room", {"t": "a" * (size - OVERHEAD)})


def test_too_large_is_an_invalid_message() -> None:
    with pytest.raises(InvalidMessage):
        encode_message("big", {"t": "a" * MAX_MESSAGE_SIZE})


@pytest.mark.parametrize(("message", "type_name"), [([1, 2], "list"), ("text", "str"), (None, "NoneType"), (7, "int")])
def test_non_dict_is_invalid_naming_the_type(message: object, type_name: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        encode_message("thumbnailer.create", message)
    assert str(caught.value) == f"message to 'thumbnailer.create' must be a dict, not {type_name}"


@pytest.mark.parametrize(
    "message",
    [
        {"when": object()},
        {"data": b"bytes"},
        {"set": {1, 2}},
        {"nan": float("nan")},
        {"inf": float("inf")},
        {("tuple", "key"): 1},
    ],
    ids=["object", "bytes", "set", "nan", "inf", "tuple-key"],
)
def test_non_json_message_is_invalid_naming_the_channel(message: dict) -> None:
    with pytest.raises(InvalidMessage, match=r"^message to 'chat\.send' does not encode as JSON: "):
        encode_message("chat.send", message)


def test_lone_surrogate_is_invalid_message() -> None:
    with pytest.raises(InvalidMessage, match=r"^message to 'chat\.send' does not encode as JSON: "):
        encode_message("chat.send", {"text": "broken \ud800 half"})


def test_lone_surrogate_in_a_key_is_invalid_message() -> None:
    with pytest.raises(InvalidMessage, match=r"^message to 'chat\.send' does not encode as JSON: "):
        encode_message("chat.send", {"\udfff": 1})


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 bytes"),
        (1023, "1023 bytes"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (1024 * 1024, "1.0 MiB"),
        (1_468_006, "1.4 MiB"),
    ],
)
def test_format_size(size: int, text: str) -> None:
    assert format_size(size) == text


# A group's position, added to an encoded message without decoding it.

POSITION = {"group": "liveblog-1", "epoch": "0123456789abcdef", "offset": 7}


@pytest.mark.parametrize(
    "message",
    [{}, {"id": 1}, {"id": 1, "content": "héllo ✓", "nested": {"position": "inner keys are the message's"}}],
    ids=["empty", "one-key", "several-keys"],
)
def test_with_position_adds_the_position_and_keeps_the_message(message: dict) -> None:
    payload = with_position(encode_message("group liveblog-1", message), POSITION)
    assert decode_message(payload) == {"position": POSITION, **message}
    assert payload == encode_message("group liveblog-1", {"position": POSITION, **message}), "still compact"


def test_with_position_on_an_empty_message_adds_no_comma() -> None:
    assert with_position(b"{}", {"offset": 1}) == b'{"position":{"offset":1}}'


def test_with_position_keeps_non_ascii_as_utf8() -> None:
    payload = with_position('{"t":"é"}'.encode(), {"group": "café"})
    assert payload == '{"position":{"group":"café"},"t":"é"}'.encode()


@pytest.mark.parametrize("payload", [b"", b"[1]", b'"text"', b" {}"])
def test_with_position_refuses_what_is_not_an_encoded_dict(payload: bytes) -> None:
    with pytest.raises(ValueError, match="an encoded message starts with"):
        with_position(payload, POSITION)


def test_reserve_keeps_room_under_the_limit() -> None:
    message = {"t": "a" * (MAX_MESSAGE_SIZE - OVERHEAD - 10)}
    assert len(encode_message("group g", message, reserve=10)) == MAX_MESSAGE_SIZE - 10
    with pytest.raises(MessageTooLarge, match="less 11 bytes kept for its position"):
        encode_message("group g", message, reserve=11)
