"""The group-history contract (``GROUP_HISTORY``): positions, replay after ``since``, and its limits.

Run over every backend of ``conftest.py`` beside this file, like
``test_contract.py``.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connections

from channels_core.backends import BaseBackend
from channels_core.backends.history import Recovery
from channels_core.defaults import MAX_MESSAGE_SIZE
from channels_core.exceptions import InvalidMessage, MessageTooLarge
from channels_core.testing import wait_past

from ..conftest import MakeBackend
from .test_contract import drain, drain_inbox

#: Groups whose name starts with ``live-`` keep 5 messages; ``live-exact`` keeps 2 (exact names win over globs).
HISTORY = {"live-*": 5, "live-exact": 2, "race-*": 10_000}


@pytest.fixture
def backend(make_backend: MakeBackend) -> BaseBackend:
    return make_backend(GROUP_HISTORY=HISTORY)


def offsets(received: list[tuple[str, dict[str, Any]]]) -> list[int]:
    return [message["position"]["offset"] for _, message in received]


# Positions.


def test_each_member_gets_the_message_with_its_position(backend: BaseBackend) -> None:
    backend.group_add("live-blog", "!hist.srv.a")
    backend.group_add("live-blog", "hist.normal")
    result = backend.group_send("live-blog", {"id": 1, "content": "hi"})
    position = result.position
    assert position is not None
    assert position["group"] == "live-blog"
    assert position["offset"] == 1
    assert isinstance(position["epoch"], str) and position["epoch"]
    expected = {"position": position, "id": 1, "content": "hi"}
    assert drain_inbox(backend, "!hist.srv") == [("!hist.srv.a", expected)]
    assert drain(backend, ["hist.normal"]) == [("hist.normal", expected)]


def test_offsets_grow_by_one_per_send_in_each_group(backend: BaseBackend) -> None:
    backend.group_add("live-one", "hist.one")
    backend.group_add("live-two", "hist.two")
    for n in range(4):
        backend.group_send("live-one", {"n": n})
        if n % 2:
            backend.group_send("live-two", {"n": n})
    assert offsets(drain(backend, ["hist.one"])) == [1, 2, 3, 4]
    assert offsets(drain(backend, ["hist.two"])) == [1, 2]


def test_an_empty_message_gets_a_position_too(backend: BaseBackend) -> None:
    backend.group_add("live-empty", "hist.empty")
    position = backend.group_send("live-empty", {}).position
    assert drain(backend, ["hist.empty"]) == [("hist.empty", {"position": position})]


def test_position_starts_a_history_at_offset_zero_and_follows_sends(backend: BaseBackend) -> None:
    first = backend.group_position("live-page")
    assert first == {"group": "live-page", "epoch": first["epoch"], "offset": 0}
    assert backend.group_position("live-page") == first, "asking again changes nothing"
    sent = backend.group_send("live-page", {"n": 1}).position
    assert sent == {**first, "offset": 1}
    assert backend.group_position("live-page") == sent


def test_a_message_with_a_position_key_is_refused(backend: BaseBackend) -> None:
    backend.group_add("live-forged", "hist.forged")
    with pytest.raises(InvalidMessage, match=r"'live-forged'.*'position'"):
        backend.group_send("live-forged", {"position": {"offset": 99}, "n": 1})
    assert drain(backend, ["hist.forged"]) == []
    assert backend.group_position("live-forged")["offset"] == 0, "a refused message takes no offset"


def test_a_message_must_leave_room_under_the_limit_for_its_position(backend: BaseBackend) -> None:
    fits_without_position = {"t": "a" * (MAX_MESSAGE_SIZE - len(b'{"t":""}'))}
    with pytest.raises(MessageTooLarge, match="kept for its position"):
        backend.group_send("live-big", fits_without_position)
    backend.group_send("plain-big", fits_without_position)  # a group without history takes it


def test_a_group_without_history_is_unchanged(backend: BaseBackend) -> None:
    backend.group_add("plain", "hist.plain")
    result = backend.group_send("plain", {"n": 1, "position": "mine"})  # the key is the sender's own here
    assert result.position is None
    assert drain(backend, ["hist.plain"]) == [("hist.plain", {"n": 1, "position": "mine"})]
    assert backend.group_add("plain", "hist.plain") is None


def test_position_and_since_are_refused_for_a_group_without_history(backend: BaseBackend) -> None:
    with pytest.raises(ValueError, match="'plain' has no history"):
        backend.group_position("plain")
    since = {"group": "plain", "epoch": "x", "offset": 0}
    with pytest.raises(ValueError, match="'plain' has no history"):
        backend.group_add("plain", "hist.plain", since=since)


# Replay after since.


def test_add_since_replays_what_was_missed_in_order_then_live_messages(backend: BaseBackend) -> None:
    backend.group_add("live-blog", "hist.reader")
    for n in range(3):
        backend.group_send("live-blog", {"n": n})
    seen = drain(backend, ["hist.reader"])[0][1]["position"]  # the reader saw the first message, then dropped
    backend.group_discard("live-blog", "hist.reader")
    recovery = backend.group_add("live-blog", "hist.reader", since=seen)
    assert recovery == Recovery(recovered=True, replayed=2)
    backend.group_send("live-blog", {"n": 3})
    received = drain(backend, ["hist.reader"])
    assert [message["n"] for _, message in received] == [1, 2, 3]
    assert offsets(received) == [2, 3, 4]


def test_a_page_rendered_before_the_first_send_gets_every_message(backend: BaseBackend) -> None:
    rendered = backend.group_position("live-new")
    backend.group_send("live-new", {"n": 1})  # published before the page's socket joined
    recovery = backend.group_add("live-new", "!hist.srv.page", since=rendered)
    assert recovery == Recovery(recovered=True, replayed=1)
    assert [message["n"] for _, message in drain_inbox(backend, "!hist.srv")] == [1]


def test_add_since_the_latest_position_replays_nothing(backend: BaseBackend) -> None:
    backend.group_send("live-blog", {"n": 1})
    latest = backend.group_position("live-blog")
    assert backend.group_add("live-blog", "hist.reader", since=latest) == Recovery(recovered=True, replayed=0)
    assert drain(backend, ["hist.reader"]) == []


def test_the_history_keeps_only_its_size(backend: BaseBackend) -> None:
    for n in range(1, 8):  # offsets 1..7; 5 kept: 3..7
        backend.group_send("live-blog", {"n": n})
    epoch = backend.group_position("live-blog")["epoch"]
    oldest_covered = {"group": "live-blog", "epoch": epoch, "offset": 2}
    assert backend.group_add("live-blog", "hist.covered", since=oldest_covered) == Recovery(True, 5)
    assert [message["n"] for _, message in drain(backend, ["hist.covered"])] == [3, 4, 5, 6, 7]
    too_old = {**oldest_covered, "offset": 1}
    assert backend.group_add("live-blog", "hist.too-old", since=too_old) == Recovery(False, 0)
    assert drain(backend, ["hist.too-old"]) == [], "never a partial replay"


def test_exact_group_names_win_over_globs(backend: BaseBackend) -> None:
    for n in range(1, 4):  # live-exact keeps 2: offsets 2 and 3
        backend.group_send("live-exact", {"n": n})
    epoch = backend.group_position("live-exact")["epoch"]
    assert backend.group_add("live-exact", "hist.a", since={"group": "live-exact", "epoch": epoch, "offset": 1})
    assert backend.group_add("live-exact", "hist.b", since={"group": "live-exact", "epoch": epoch, "offset": 0}) == (
        Recovery(recovered=False, replayed=0)
    )


def test_since_from_another_epoch_is_not_recovered_but_the_member_is_added(backend: BaseBackend) -> None:
    backend.group_send("live-blog", {"n": 1})
    other_history = {"group": "live-blog", "epoch": "0123456789abcdef", "offset": 0}
    assert backend.group_add("live-blog", "hist.reader", since=other_history) == Recovery(False, 0)
    assert drain(backend, ["hist.reader"]) == []
    backend.group_send("live-blog", {"n": 2})
    assert [message["n"] for _, message in drain(backend, ["hist.reader"])] == [2]


def test_since_beyond_the_latest_offset_is_not_recovered(backend: BaseBackend) -> None:
    backend.group_send("live-blog", {"n": 1})
    ahead = {**backend.group_position("live-blog"), "offset": 2}
    assert backend.group_add("live-blog", "hist.reader", since=ahead) == Recovery(False, 0)


def test_since_when_the_group_never_had_a_history_is_not_recovered(backend: BaseBackend) -> None:
    since = {"group": "live-never", "epoch": "0123456789abcdef", "offset": 0}
    assert backend.group_add("live-never", "hist.reader", since=since) == Recovery(False, 0)
    assert backend.group_channels("live-never") == ["hist.reader"]


def test_a_flush_loses_the_history_and_its_epoch(backend: BaseBackend) -> None:
    backend.group_send("live-blog", {"n": 1})
    before = backend.group_position("live-blog")
    backend.flush()
    assert backend.group_add("live-blog", "hist.reader", since=before) == Recovery(False, 0)
    assert drain(backend, ["hist.reader"]) == []
    after = backend.group_position("live-blog")
    assert after["offset"] == 0
    assert after["epoch"] != before["epoch"]


def test_a_history_expires_with_its_epoch(make_backend: MakeBackend) -> None:
    backend = make_backend(GROUP_HISTORY=HISTORY, GROUP_HISTORY_EXPIRY=0.5)
    backend.group_send("live-blog", {"n": 1})
    before = backend.group_position("live-blog")
    wait_past(0.7)
    assert backend.group_add("live-blog", "hist.reader", since=before) == Recovery(False, 0)
    assert drain(backend, ["hist.reader"]) == []
    backend.group_send("live-blog", {"n": 2})
    received = drain(backend, ["hist.reader"])
    assert offsets(received) == [1], "a new history numbers from 1 again"
    assert received[0][1]["position"]["epoch"] != before["epoch"]


def test_the_replay_ignores_the_channels_capacity(backend: BaseBackend) -> None:
    rendered = backend.group_position("live-blog")
    for n in range(3):
        backend.group_send("live-blog", {"n": n})
    assert backend.group_add("live-blog", "tiny.one", since=rendered) == Recovery(True, 3)  # capacity 1
    assert [message["n"] for _, message in drain(backend, ["tiny.one"])] == [0, 1, 2]


@pytest.mark.parametrize(
    ("since", "complaint"),
    [
        ("live-blog:abc:3", "not str"),
        ({"group": "live-blog", "epoch": "e"}, r"missing \['offset'\]"),
        ({"group": "live-blog", "epoch": "e", "offset": 1, "extra": 1}, r"unexpected \['extra'\]"),
        ({"group": "live-other", "epoch": "e", "offset": 1}, "in group 'live-other', not 'live-blog'"),
        ({"group": "live-blog", "epoch": 7, "offset": 1}, "epoch is a non-empty string, not 7"),
        ({"group": "live-blog", "epoch": "", "offset": 1}, "epoch is a non-empty string"),
        ({"group": "live-blog", "epoch": "e", "offset": -1}, "offset is an integer from 0"),
        ({"group": "live-blog", "epoch": "e", "offset": "3"}, "offset is an integer from 0.*not '3'"),
        ({"group": "live-blog", "epoch": "e", "offset": True}, "offset is an integer from 0"),
        ({"group": "live-blog", "epoch": "e", "offset": 1.5}, "offset is an integer from 0"),
        ({"group": "live-blog", "epoch": "e", "offset": 2**63}, "offset is an integer from 0"),
    ],
)
def test_a_malformed_since_is_a_value_error_and_adds_nothing(backend: BaseBackend, since: Any, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        backend.group_add("live-blog", "hist.reader", since=since)
    assert backend.group_channels("live-blog") == []


# Sends racing adds.


def test_sends_racing_adds_since_leave_no_gap_and_no_duplicate(backend: BaseBackend) -> None:
    """Four senders, while six members join with the position they saw a moment earlier."""
    senders, sends_each, joiners = 4, 40, 6
    group = "race-live"
    sent: list[int] = []
    joined: dict[str, tuple[int, Recovery]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(senders + joiners)
    # Member i joins once i/7 of the sends are done: at a different moment each, while sends go on.
    moments = [i * senders * sends_each // (joiners + 1) for i in range(joiners)]
    reached = {moment: threading.Event() for moment in moments}

    def send_all() -> None:
        try:
            start.wait()
            for n in range(sends_each):
                position = backend.group_send(group, {"n": n}).position
                assert position is not None
                sent.append(position["offset"])
                for moment, event in reached.items():
                    if len(sent) >= moment:
                        event.set()
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    def join(member: str, moment: int) -> None:
        try:
            start.wait()
            assert reached[moment].wait(60), f"{moment} sends were not done in time"
            seen = backend.group_position(group)
            joined[member] = (seen["offset"], backend.group_add(group, member, since=seen))
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send_all) for _ in range(senders)]
    threads += [threading.Thread(target=join, args=(f"bulk.race-{i}", moment)) for i, moment in enumerate(moments)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    total = senders * sends_each
    assert sorted(sent) == list(range(1, total + 1)), "each send took its own offset"
    assert len(joined) == joiners
    for member, (since, recovery) in joined.items():
        assert recovery.recovered
        received = offsets(drain(backend, [member]))
        assert received == list(range(since + 1, total + 1)), f"{member} joined after {since}"
        assert recovery.replayed <= len(received)
