"""A reply is encoded once into the bytes every socket it goes to is sent (frames.Reply, frames.reply_of)."""

from __future__ import annotations

from channels_core.frames import Reply, reply_of


def test_a_message_becomes_one_text_frame_encoded_once() -> None:
    reply = reply_of({"id": 1, "content": "é"})
    assert reply.payload == '{"id":1,"content":"é"}'.encode() and reply.is_text
    assert reply.size == len(reply.payload)


def test_equal_messages_give_equal_replies() -> None:
    assert reply_of({"text": "a"}) == Reply("a")


def test_a_binary_frame_is_sent_as_it_is() -> None:
    reply = reply_of({"bytes": "AAE="})
    assert reply.payload == b"\x00\x01" and not reply.is_text
