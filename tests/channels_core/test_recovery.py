"""channels_core.recovery: the positions a socket's URL carries, and a connect's one answer."""

from __future__ import annotations

import json
import logging
from urllib.parse import urlencode

import pytest
from pytest_django.fixtures import Settings

from channels_core import Channel, Group
from channels_core.backends import backends, get_backend
from channels_core.held_replies import holding_replies
from channels_core.recovery import join_with_recovery, positions_sent

MEMORY = "channels_core.backends.memory.InMemoryBackend"
SOCKET = "!django.websocket.send.srv.a"
INBOX = "!django.websocket.send.srv"


@pytest.fixture(autouse=True)
def history(settings: Settings):
    settings.CHANNEL_BACKENDS = {"default": {"BACKEND": MEMORY, "GROUP_HISTORY": {"blog-*": 10}}}
    backends.reset()
    yield
    backends.reset()


def query(positions: dict[str, object]) -> str:
    return urlencode({"since": json.dumps(positions), "other": "kept"})


def received() -> list[dict]:
    return [message for _, message in get_backend().receive_inbox(INBOX, limit=100)]


@pytest.mark.parametrize(
    ("query_string", "expected"),
    [
        ("", None),
        ("other=1", None),
        ("since=%7B%7D", {}),
        (query({"blog-a": {"offset": 1}}), {"blog-a": {"offset": 1}}),
        ("since=%5B%5D", {}),  # not an object
        ("since=nope", {}),
        ("since=" + "%5B" * 50_000, {}),  # deeper than the stack
    ],
)
def test_positions_sent(query_string: str, expected: object) -> None:
    assert positions_sent(query_string) == expected


def test_every_group_replays_from_its_own_position_then_one_frame_says_recovered() -> None:
    first, second = Group("blog-a"), Group("blog-b")
    since = {"blog-a": first.position(), "blog-b": second.position()}
    first.send(n=1)
    second.send(n=2)
    second.send(n=3)
    outcome = join_with_recovery(SOCKET, [first, second], query(since))
    assert outcome is not None and outcome.recovered
    messages = received()
    assert [message.get("n") for message in messages] == [1, 2, 3, None]
    assert messages[-1] == {
        "recovery": {
            "recovered": True,
            "groups": {"blog-a": {"recovered": True, "replayed": 1}, "blog-b": {"recovered": True, "replayed": 2}},
        }
    }


def test_one_group_not_recovered_makes_the_whole_not_recovered_with_its_current_position(caplog) -> None:
    first, second = Group("blog-a"), Group("blog-b")
    since = {"blog-a": first.position(), "blog-b": {**second.position(), "epoch": "lost"}}
    second.send(n=1)
    with caplog.at_level(logging.DEBUG, logger="channels_core.recovery"):
        outcome = join_with_recovery(SOCKET, [first, second], query(since))
    assert outcome is not None and not outcome.recovered
    assert received() == [
        {
            "recovery": {
                "recovered": False,
                "groups": {
                    "blog-a": {"recovered": True, "replayed": 0},
                    "blog-b": {"recovered": False, "replayed": 0, "position": second.position()},
                },
            }
        }
    ]
    assert sorted(Group("blog-b").channels()) == [SOCKET], "added all the same"
    assert caplog.records == [], "another epoch is not malformed: nothing to log"


def test_a_malformed_or_missing_position_recovers_nothing_and_is_logged_at_debug(caplog) -> None:
    first, second = Group("blog-a"), Group("blog-b")
    with caplog.at_level(logging.DEBUG, logger="channels_core.recovery"):
        outcome = join_with_recovery(SOCKET, [first, second], query({"blog-a": {"epoch": "x", "offset": 0}}))
    assert outcome is not None and not outcome.recovered
    assert {name: recovery.recovered for name, recovery in outcome.groups.items()} == {
        "blog-a": False,
        "blog-b": False,
    }
    assert [record.levelname for record in caplog.records] == ["DEBUG"]
    assert "blog-a" in caplog.records[0].getMessage()
    assert sorted(first.channels() + second.channels()) == [SOCKET, SOCKET]


def test_no_since_is_a_plain_add_and_no_frame() -> None:
    group = Group("blog-a")
    group.send(n=1)
    assert join_with_recovery(SOCKET, [group], "other=1") is None
    assert received() == []
    assert group.channels() == [SOCKET]


def test_a_group_without_history_is_a_configuration_mistake() -> None:
    with pytest.raises(ValueError, match="no history"):
        join_with_recovery(SOCKET, [Group("plain")], query({}))


def test_under_a_batching_worker_replies_held_before_come_first_and_the_frame_after_the_replay() -> None:
    group = Group("blog-a")
    since = {"blog-a": group.position()}
    group.send(n=1)
    with holding_replies(get_backend()):
        Channel(SOCKET).send(accept=True)
        join_with_recovery(SOCKET, [group], query(since))
    assert [sorted(message) for message in received()] == [["accept"], ["n", "position"], ["recovery"]]
