"""The reader's socket: joining (recovering what its page missed), staying in and leaving the blog's group."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from channels_core.context import handling_message
from liveblog.consumers import UNKNOWN_BLOG, join_readers, leave_readers, stay_with_readers

READER = "!django.websocket.send.srv1.reader"
INBOX = "!django.websocket.send.srv1"


def connect(slug="keynote", query_string=""):
    """Run join_readers for a reader's connect, as a worker does (knowing the channel)."""
    with handling_message("django.websocket.connect", "default"):
        join_readers(
            send_channel=READER, slug=slug, path=f"/liveblog/{slug}/stream/", query_string=query_string, order=0
        )


def since(position: object) -> str:
    """The query string of a page's socket that sends ``position`` for the blog (ChannelsSocket's ``since``)."""
    return urlencode({"since": json.dumps({"liveblog-keynote": position})})


def received(backend) -> list[dict]:
    """The messages that reached the reader's socket so far."""
    return [message for _, message in backend.receive_inbox(INBOX, limit=1000)]


def post(keynote, body: str) -> None:
    keynote.send_notification({"type": "post.created", "post": {"body": body}})


def test_a_connect_without_positions_joins_the_group_and_says_joined(memory_backend, keynote) -> None:
    connect()
    assert keynote.group.channels() == [READER]
    assert memory_backend.receive_inbox(INBOX) == [(READER, {"type": "joined"})]


def test_a_connect_with_the_pages_position_gets_what_was_sent_since_then_says_recovered(
    memory_backend, keynote
) -> None:
    rendered = keynote.group.position()  # as the page was rendered
    post(keynote, "first")
    post(keynote, "second")
    connect(query_string=since(rendered))
    messages = received(memory_backend)
    assert [m["post"]["body"] for m in messages[:2]] == ["first", "second"]
    assert [m["position"]["offset"] for m in messages[:2]] == [rendered["offset"] + 1, rendered["offset"] + 2]
    assert messages[2:] == [
        {"recovery": {"recovered": True, "groups": {"liveblog-keynote": {"recovered": True, "replayed": 2}}}},
        {"type": "joined"},
    ]
    assert keynote.group.channels() == [READER]


def test_a_position_of_a_lost_history_recovers_nothing_and_gives_the_current_position(memory_backend, keynote) -> None:
    post(keynote, "first")
    current = keynote.group.position()
    connect(query_string=since({**current, "epoch": "0123456789abcdef"}))
    assert received(memory_backend) == [
        {
            "recovery": {
                "recovered": False,
                "groups": {"liveblog-keynote": {"recovered": False, "replayed": 0, "position": current}},
            }
        },
        {"type": "joined"},
    ]
    assert keynote.group.channels() == [READER], "added all the same: later posts reach it"


def test_malformed_positions_recover_nothing_and_never_crash(memory_backend, keynote) -> None:
    post(keynote, "first")
    current = keynote.group.position()
    not_recovered = {
        "recovery": {
            "recovered": False,
            "groups": {"liveblog-keynote": {"recovered": False, "replayed": 0, "position": current}},
        }
    }
    malformed = [
        "since=not-json",
        "since=%5B1%2C2%5D",  # a list, not an object
        "since=" + "%5B" * 100_000,  # nested deeper than Python's stack
        since({**current, "offset": "1"}),
        since({**current, "offset": -1}),
        since({**current, "group": "liveblog-other"}),
        since({"epoch": current["epoch"], "offset": 0}),
        since("a string"),
        urlencode({"since": json.dumps({"liveblog-other": current})}),  # no position for this group
    ]
    for query_string in malformed:
        connect(query_string=query_string)
        assert received(memory_backend) == [not_recovered, {"type": "joined"}], query_string


def test_a_keepalive_refreshes_membership_and_replays_nothing(memory_backend, keynote) -> None:
    rendered = keynote.group.position()
    connect(query_string=since(rendered))
    received(memory_backend)
    post(keynote, "while connected")
    assert [m["post"]["body"] for m in received(memory_backend)] == ["while connected"]
    with handling_message("django.websocket.keepalive", "default"):
        stay_with_readers(send_channel=READER, slug="keynote", path="/liveblog/keynote/stream/")
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
