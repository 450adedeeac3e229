"""The reader's socket: joining, staying in and leaving the blog's group."""

from __future__ import annotations

from channels_core.context import handling_message
from liveblog.consumers import UNKNOWN_BLOG, join_readers, leave_readers

READER = "!django.websocket.send.srv1.reader"
INBOX = "!django.websocket.send.srv1"


def connect(slug="keynote"):
    """Run join_readers for a reader's connect, as a worker does (knowing the channel)."""
    with handling_message("django.websocket.connect", "default"):
        join_readers(send_channel=READER, slug=slug, path=f"/liveblog/{slug}/stream/", order=0)


def test_a_connect_joins_the_group_and_tells_the_page_to_catch_up(memory_backend, keynote) -> None:
    connect()
    assert keynote.group.channels() == [READER]
    assert memory_backend.receive_inbox(INBOX) == [(READER, {"type": "joined"})]


def test_a_keepalive_refreshes_membership_quietly(memory_backend, keynote) -> None:
    with handling_message("django.websocket.keepalive", "default"):
        join_readers(send_channel=READER, slug="keynote", path="/liveblog/keynote/stream/")
    assert keynote.group.channels() == [READER]
    assert memory_backend.receive_inbox(INBOX) == []


def test_an_unknown_blog_gets_an_error_and_a_close(memory_backend, keynote) -> None:
    connect(slug="nope")
    assert memory_backend.receive_inbox(INBOX) == [
        (READER, {"type": "error", "error": "There is no live blog called 'nope'.", "close": UNKNOWN_BLOG})
    ]
    assert keynote.group.channels() == []


def test_a_disconnect_leaves_the_group(memory_backend, keynote) -> None:
    connect()
    leave_readers(send_channel=READER, slug="keynote", path="/liveblog/keynote/stream/", code=1001, order=1)
    assert keynote.group.channels() == []
