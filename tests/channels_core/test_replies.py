"""A batch's replies are made once per message: a broadcast's copies share one frame (frames.Replies)."""

from __future__ import annotations

from channels_core.frames import Replies, Reply


def test_copies_of_one_group_message_share_one_reply_and_its_encoded_frame() -> None:
    broadcast = {"id": 1, "content": "é"}
    replies = Replies()
    first, second = replies.of(broadcast), replies.of(broadcast)
    assert first is second
    assert first.payload == '{"id":1,"content":"é"}'.encode() and first.is_text
    assert first.size == len(first.payload)


def test_equal_messages_of_their_own_get_replies_of_their_own() -> None:
    replies = Replies()
    assert replies.of({"text": "a"}) is not replies.of({"text": "a"})
    assert replies.of({"text": "a"}) == Reply("a")


def test_a_binary_frame_is_sent_as_it_is() -> None:
    reply = Replies().of({"bytes": "AAE="})
    assert reply.payload == b"\x00\x01" and not reply.is_text
