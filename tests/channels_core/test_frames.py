"""WebSocket events as messages and replies as frames, without sockets."""

from __future__ import annotations

import logging

import pytest

from channels_core.frames import Reply, connect_message, disconnect_message, receive_message, reply_of


def test_a_connect_carries_the_handshake() -> None:
    message = connect_message("!s.a", "/chat/", "x=1", [("Cookie", "a=b")], ("127.0.0.1", 5000, 0, 0), ("::1", 8001))
    assert message == {
        "send_channel": "!s.a",
        "path": "/chat/",
        "query_string": "x=1",
        "headers": [["cookie", "a=b"]],
        "client": ["127.0.0.1", 5000],
        "server": ["::1", 8001],
        "order": 0,
    }


def test_text_and_binary_frames_become_receives() -> None:
    assert receive_message("!s.a", "/", 3, "hi") == {"send_channel": "!s.a", "path": "/", "order": 3, "text": "hi"}
    assert receive_message("!s.a", "/", 4, b"\x00\xff")["bytes"] == "AP8="


def test_a_disconnect_carries_its_code_and_order() -> None:
    assert disconnect_message("!s.a", "/", 1006, 9) == {"send_channel": "!s.a", "path": "/", "code": 1006, "order": 9}


@pytest.mark.parametrize(
    ("message", "reply"),
    [
        ({"text": "héllo"}, Reply("héllo")),
        ({"bytes": "AP8="}, Reply(b"\x00\xff")),
        ({"type": "joined", "n": 1}, Reply('{"type":"joined","n":1}')),
        ({"text": "bye", "close": True}, Reply("bye", 1000)),
        ({"type": "error", "close": 4004}, Reply('{"type":"error"}', 4004)),
        ({"close": True}, Reply(None, 1000)),
        ({"text": "x", "close": False}, Reply("x")),
    ],
)
def test_replies_become_frames_and_closes(message: dict[str, object], reply: Reply) -> None:
    assert reply_of(message) == reply


def test_a_close_code_no_application_may_send_closes_with_1011_and_says_why(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "channels_core.websocket"):
        assert reply_of({"close": 1005}) == Reply(None, 1011)
        assert reply_of({"close": "soon"}) == Reply(None, 1011)
    assert "not a close code an application may send" in caplog.text


def test_a_replys_size_counts_the_bytes_sent() -> None:
    assert Reply("é").size == 2
    assert Reply(b"abc").size == 3
    assert Reply(None, 1000).size == 0
