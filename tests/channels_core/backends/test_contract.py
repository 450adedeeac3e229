"""The backend contract: one module, run unchanged against every backend.

memory, database on SQLite, database on PostgreSQL, Redis on one server and
Redis sharded over three servers (see ``conftest.py`` beside this file).
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connections

from channels_core.backends import BaseBackend
from channels_core.defaults import MAX_MESSAGE_SIZE
from channels_core.exceptions import ChannelFull, InvalidChannelName, InvalidMessage, MessageTooLarge
from channels_core.names import new_channel_name
from channels_core.testing import wait_past, wait_until

from ..conftest import MakeBackend


def drain(backend: BaseBackend, channels: list[str]) -> list[tuple[str, dict]]:
    """Everything waiting on normal channels, one receive at a time."""
    received = []
    while (found := backend.receive(channels)) is not None:
        received.append(found)
    return received


def drain_inbox(backend: BaseBackend, inbox: str) -> list[tuple[str, dict]]:
    """Everything waiting in a response inbox."""
    received = []
    while batch := backend.receive_inbox(inbox):
        received += batch
    return received


# Order and delivery.


def test_messages_arrive_in_order(backend: BaseBackend) -> None:
    for n in range(50):
        backend.send("orders.fifo", {"n": n})
    assert [m["n"] for _, m in drain(backend, ["orders.fifo"])] == list(range(50))


def test_receive_names_the_channel_and_keeps_the_message(backend: BaseBackend) -> None:
    message = {"text": "héllo ✓", "nested": {"list": [1, 2.5, None, True]}, "empty": {}}
    backend.send("shapes.one", message)
    assert backend.receive(["shapes.other", "shapes.one"]) == ("shapes.one", message)


def test_channels_are_independent(backend: BaseBackend) -> None:
    backend.send("pair.a", {"n": 1})
    backend.send("pair.b", {"n": 2})
    assert backend.receive(["pair.b"]) == ("pair.b", {"n": 2})
    assert backend.receive(["pair.b"]) is None
    assert backend.receive(["pair.a"]) == ("pair.a", {"n": 1})


def test_receive_waits_for_a_message_sent_later(backend: BaseBackend) -> None:
    assert backend.receive(["later.one"], timeout=0.05) is None

    def send_later() -> None:
        try:
            backend.send("later.one", {"n": 1})
        finally:
            connections.close_all()

    sender = threading.Timer(0.2, send_later)
    sender.start()
    try:
        assert backend.receive(["later.one"], timeout=10) == ("later.one", {"n": 1})
    finally:
        sender.join()


def test_a_message_sent_before_any_consumer_waits_for_one(backend: BaseBackend) -> None:
    for n in range(5):
        backend.send("queued.work", {"n": n})
    assert len(drain(backend, ["queued.work"])) == 5


def test_each_message_reaches_exactly_one_of_four_concurrent_receivers(backend: BaseBackend) -> None:
    total = 10_000
    received: list[list[int]] = [[] for _ in range(4)]
    sent_all = threading.Event()

    def receive_into(mine: list[int]) -> None:
        try:
            while True:
                found = backend.receive(["bulk.work"], timeout=0.2)
                if found is not None:
                    mine.append(found[1]["n"])
                elif sent_all.is_set():
                    return
        finally:
            connections.close_all()

    receivers = [threading.Thread(target=receive_into, args=(r,)) for r in received]
    for thread in receivers:
        thread.start()
    for n in range(total):
        # The sender outpaces the receivers at times: it waits for room, as a producer should.
        wait_until(lambda n=n: _sent(backend, "bulk.work", {"n": n}), what="room in the channel")
    sent_all.set()
    for thread in receivers:
        thread.join(120)
    counts = Counter(n for mine in received for n in mine)
    assert sorted(counts) == list(range(total)), "some messages were lost"
    assert max(counts.values()) == 1, "a message was delivered twice"
    for mine in received:  # each receiver saw its share in order
        assert mine == sorted(mine)


def test_receive_many_takes_up_to_its_limit_in_order(backend: BaseBackend) -> None:
    for n in range(5):
        backend.send("batch.work", {"n": n})
    assert backend.receive_many(["batch.work"], limit=3) == [("batch.work", {"n": n}) for n in range(3)]
    assert backend.receive_many(["batch.work"], limit=3) == [("batch.work", {"n": n}) for n in (3, 4)]
    assert backend.receive_many(["batch.work"], timeout=0.05, limit=3) == []


def _sent(backend: BaseBackend, channel: str, message: dict) -> bool:
    try:
        backend.send(channel, message)
    except ChannelFull:
        return False
    return True


# Response channels and inboxes.


def test_an_inbox_receives_for_every_channel_below_it(backend: BaseBackend) -> None:
    one, two = new_channel_name("!replies.srv1"), new_channel_name("!replies.srv1")
    other = new_channel_name("!replies.srv2")
    backend.send(one, {"n": 1})
    backend.send(other, {"n": 2})
    backend.send(two, {"n": 3})
    assert drain_inbox(backend, "!replies.srv1") == [(one, {"n": 1}), (two, {"n": 3})]
    assert drain_inbox(backend, "!replies.srv2") == [(other, {"n": 2})]


def test_an_inbox_gives_many_messages_at_once(backend: BaseBackend) -> None:
    names = [new_channel_name("!batch.srv") for _ in range(30)]
    for n, name in enumerate(names):
        backend.send(name, {"n": n})
    assert backend.receive_inbox("!batch.srv", limit=20) == [(name, {"n": n}) for n, name in enumerate(names[:20])]
    assert backend.receive_inbox("!batch.srv", limit=20) == [(name, {"n": n + 20}) for n, name in enumerate(names[20:])]
    assert backend.receive_inbox("!batch.srv", timeout=0.05) == []


def test_an_inbox_read_as_entries_gives_a_group_send_once_with_its_members(backend: BaseBackend) -> None:
    members = [new_channel_name("!entries.srv") for _ in range(3)]
    for member in members:
        backend.group_add("readers", member)
    alone = new_channel_name("!entries.srv")
    backend.send(alone, {"n": 0})
    backend.group_send("readers", {"n": 1})
    entries = backend.receive_inbox_entries("!entries.srv", timeout=1)
    assert [(sorted(channels), message) for channels, message in entries] == [
        ([alone], {"n": 0}),
        (sorted(members), {"n": 1}),
    ]


def test_workers_and_interface_servers_read_their_own_kind(backend: BaseBackend) -> None:
    with pytest.raises(InvalidChannelName, match=r"cannot receive\(\) on response channel '!mine\.srv'"):
        backend.receive(["normal.one", "!mine.srv"])
    with pytest.raises(InvalidChannelName, match=r"needs a response inbox starting with '!', not 'normal\.one'"):
        backend.receive_inbox("normal.one")


# Sending many at once.


def test_send_many_stores_every_message_in_order(backend: BaseBackend) -> None:
    sockets = [new_channel_name("!many.srv") for _ in range(3)]
    big = "x" * (700 * 1024)  # two of these do not fit in one batch of the Redis backend
    messages = [("bulk.many", {"n": n, "big": big if n in (7, 8) else ""}) for n in range(250)]
    messages += [(sockets[n % 3], {"n": n}) for n in range(60)]
    assert backend.send_many(messages) == [None] * 310
    assert [(m["n"], len(m["big"])) for _, m in drain(backend, ["bulk.many"])] == [
        (n, len(big) if n in (7, 8) else 0) for n in range(250)
    ]
    assert drain_inbox(backend, "!many.srv") == [(sockets[n % 3], {"n": n}) for n in range(60)]


def test_send_many_answers_each_message_and_sends_the_good_ones(backend: BaseBackend) -> None:
    outcomes = backend.send_many(
        [
            ("bad name!", {}),
            ("fine.one", {"n": 1}),
            ("fine.one", ["not", "a", "dict"]),  # type: ignore[list-item]
            ("fine.one", {"text": "x" * MAX_MESSAGE_SIZE}),
            ("tiny.one", {"n": 1}),
            ("tiny.one", {"n": 2}),  # capacity 1
            ("fine.one", {"n": 2}),
        ]
    )
    assert [type(outcome) for outcome in outcomes] == [
        InvalidChannelName,
        type(None),
        InvalidMessage,
        MessageTooLarge,
        type(None),
        ChannelFull,
        type(None),
    ]
    assert "'tiny.one' is full (capacity 1)" in str(outcomes[5])
    assert drain(backend, ["fine.one"]) == [("fine.one", {"n": 1}), ("fine.one", {"n": 2})]
    assert drain(backend, ["tiny.one"]) == [("tiny.one", {"n": 1})]


# Messages prepared now and stored later (what a batching worker's held replies use).


def test_prepared_messages_are_stored_in_order_with_their_own_outcomes(backend: BaseBackend) -> None:
    socket = new_channel_name("!django.websocket.send.prep")
    backend.send("tiny.one", {"n": 0})  # capacity 1: now full
    prepared = [
        backend.prepare(socket, {"n": 1}),
        backend.prepare("tiny.one", {"n": 2}),
        backend.prepare("prep.work", {"n": 3}),
        backend.prepare(socket, {"n": 4}),
    ]
    outcomes = backend.send_prepared(prepared)
    assert [type(outcome) for outcome in outcomes] == [type(None), ChannelFull, type(None), type(None)]
    assert "'tiny.one' is full (capacity 1)" in str(outcomes[1])
    assert drain_inbox(backend, "!django.websocket.send.prep") == [(socket, {"n": 1}), (socket, {"n": 4})]
    assert drain(backend, ["tiny.one", "prep.work"]) == [("tiny.one", {"n": 0}), ("prep.work", {"n": 3})]
    assert backend.send_prepared([]) == []


def test_bad_input_raises_when_prepared(backend: BaseBackend) -> None:
    with pytest.raises(MessageTooLarge):
        backend.prepare("prep.work", {"text": "x" * MAX_MESSAGE_SIZE})
    with pytest.raises(InvalidMessage):
        backend.prepare("prep.work", {"n": object()})
    with pytest.raises(InvalidChannelName):
        backend.prepare("bad name", {})


# Expiry.


def test_an_expired_message_is_never_delivered(make_backend: MakeBackend) -> None:
    backend = make_backend(EXPIRY=0.5)
    socket = new_channel_name("!expiring.srv")
    backend.send("expiring.one", {"n": "old"})
    backend.send(socket, {"n": "old"})
    wait_past(0.7)
    backend.send("expiring.one", {"n": "new"})
    backend.send(socket, {"n": "new"})
    assert drain(backend, ["expiring.one"]) == [("expiring.one", {"n": "new"})]
    assert drain_inbox(backend, "!expiring.srv") == [(socket, {"n": "new"})]


def test_channel_expiry_by_exact_name_and_glob(make_backend: MakeBackend) -> None:
    backend = make_backend(EXPIRY=60, CHANNEL_EXPIRY={"brief.one": 0.5, "!brief.*": 0.5, "fleeting.*": 0.5})
    member = new_channel_name("!brief.srv")
    backend.group_add("briefly", member)
    for channel in ("brief.one", "fleeting.two", "lasting.one", member):
        backend.send(channel, {"from": channel})
    backend.group_send("briefly", {"from": "the group"})
    backend.send_many([("brief.one", {"from": "send_many"}), ("lasting.one", {"from": "send_many"})])
    wait_past(0.7)
    assert drain(backend, ["brief.one"]) == drain(backend, ["fleeting.two"]) == []
    assert drain_inbox(backend, "!brief.srv") == []
    assert drain(backend, ["lasting.one"]) == [
        ("lasting.one", {"from": "lasting.one"}),
        ("lasting.one", {"from": "send_many"}),
    ]


def test_expired_messages_free_capacity(make_backend: MakeBackend) -> None:
    backend = make_backend(EXPIRY=0.5)
    backend.send("tiny.one", {"n": 1})
    with pytest.raises(ChannelFull):
        backend.send("tiny.one", {"n": 2})
    wait_past(0.7)
    backend.send("tiny.one", {"n": 3})
    assert drain(backend, ["tiny.one"]) == [("tiny.one", {"n": 3})]


# Capacity.


def test_a_full_channel_raises_channel_full(make_backend: MakeBackend) -> None:
    backend = make_backend(CAPACITY=3)
    for n in range(3):
        backend.send("full.one", {"n": n})
    with pytest.raises(ChannelFull, match=r"'full\.one' is full \(capacity 3\)"):
        backend.send("full.one", {"n": 3})
    backend.receive(["full.one"])
    backend.send("full.one", {"n": 4})  # room again
    assert [m["n"] for _, m in drain(backend, ["full.one"])] == [1, 2, 4]


def test_channel_capacity_by_exact_name_and_glob(backend: BaseBackend) -> None:
    backend.send("tiny.one", {})
    with pytest.raises(ChannelFull):
        backend.send("tiny.one", {})
    backend.send("glob.a", {})
    backend.send("glob.a", {})
    with pytest.raises(ChannelFull):
        backend.send("glob.a", {})
    backend.send("glob.b", {})  # each matching channel has its own capacity
    for _ in range(100):
        backend.send("unlisted.channel", {})
    with pytest.raises(ChannelFull):
        backend.send("unlisted.channel", {})


def test_response_channels_share_the_capacity_of_their_inbox(backend: BaseBackend) -> None:
    """Capacity counts what waits in a queue; a response channel's queue is its inbox."""
    backend.send("!tiny.srv.first", {})
    with pytest.raises(ChannelFull, match=r"'!tiny\.srv\.second' is full \(capacity 1, shared with .* '!tiny\.srv'"):
        backend.send("!tiny.srv.second", {})
    assert len(drain_inbox(backend, "!tiny.srv")) == 1
    backend.send("!tiny.srv.second", {})  # received, so there is room again


# The message rules.


def _message_of_size(size: int) -> dict[str, str]:
    overhead = len('{"data":""}')
    return {"data": "x" * (size - overhead)}


def test_a_message_of_exactly_one_mebibyte_is_carried(backend: BaseBackend) -> None:
    message = _message_of_size(MAX_MESSAGE_SIZE)
    backend.send("big.exact", message)
    assert backend.receive(["big.exact"]) == ("big.exact", message)


def test_a_message_one_byte_over_the_limit_is_refused(backend: BaseBackend) -> None:
    with pytest.raises(MessageTooLarge, match=r"message to 'big\.over' is 1\.0 MiB \(1048577 bytes\); the limit"):
        backend.send("big.over", _message_of_size(MAX_MESSAGE_SIZE + 1))
    assert backend.receive(["big.over"]) is None


@pytest.mark.parametrize(
    ("message", "complaint"),
    [
        ([1, 2], "must be a dict, not list"),
        ("text", "must be a dict, not str"),
        (None, "must be a dict, not NoneType"),
        ({"when": object()}, "does not encode as JSON"),
        ({"set": {1, 2}}, "does not encode as JSON"),
        ({"nan": float("nan")}, "does not encode as JSON"),
        ({"bytes": b"raw"}, "does not encode as JSON"),
    ],
)
def test_messages_that_are_not_json_dicts_are_refused(backend: BaseBackend, message: object, complaint: str) -> None:
    with pytest.raises(InvalidMessage, match=complaint) as caught:
        backend.send("bad.message", message)  # type: ignore[arg-type]
    assert isinstance(caught.value, ValueError)
    assert "'bad.message'" in str(caught.value)
    assert backend.receive(["bad.message"]) is None


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("", "is empty"),
        ("!", "is empty"),
        ("a" * 200, "must be shorter than 200"),
        ("!" + "a" * 199, "must be shorter than 200"),
        ("has space", "contains ' '"),
        ("slash/name", "contains '/'"),
        ("mid!bang", "contains '!'"),
        ("!!double", "contains '!'"),
        ("ünicode", "contains 'ü'"),
        ("star*", "contains '*'"),
        (42, "must be a str"),
    ],
)
def test_bad_channel_names_are_refused_naming_the_rule(backend: BaseBackend, name: object, rule: str) -> None:
    for attempt in (
        lambda: backend.send(name, {}),  # type: ignore[arg-type]
        lambda: backend.receive([name]),  # type: ignore[list-item]
        lambda: backend.group_add("group", name),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidChannelName, match=rule) as caught:
            attempt()
        assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("name", ["a", "a" * 199, "!" + "a" * 198, "Mixed-Case_with.dots-09", "!resp.x"])
def test_good_channel_names_are_accepted(backend: BaseBackend, name: str) -> None:
    backend.send(name, {"ok": True})


@pytest.mark.parametrize(("name", "rule"), [("", "is empty"), ("!resp", "contains '!'"), ("a b", "contains ' '")])
def test_bad_group_names_are_refused(backend: BaseBackend, name: str, rule: str) -> None:
    with pytest.raises(InvalidChannelName, match=rule):
        backend.group_add(name, "!resp.srv.a")
    with pytest.raises(InvalidChannelName, match=rule):
        backend.group_send(name, {})


# Groups.


def test_group_add_discard_and_channels(backend: BaseBackend) -> None:
    assert backend.group_channels("readers") == []
    backend.group_add("readers", "!g.srv1.a")
    backend.group_add("readers", "!g.srv2.b")
    backend.group_add("readers", "!g.srv1.a")  # adding again is a refresh, not a second member
    assert sorted(backend.group_channels("readers")) == ["!g.srv1.a", "!g.srv2.b"]
    backend.group_discard("readers", "!g.srv1.a")
    backend.group_discard("readers", "!g.never.member")
    assert backend.group_channels("readers") == ["!g.srv2.b"]


def test_group_send_delivers_one_copy_to_each_member(backend: BaseBackend) -> None:
    members = [new_channel_name("!fan.srv1") for _ in range(3)] + [new_channel_name("!fan.srv2"), "fan.normal"]
    for member in members:
        backend.group_add("fans", member)
    backend.group_add("others", "!fan.srv3.x")
    result = backend.group_send("fans", {"id": 1, "content": "hi"})
    assert (result.delivered, result.skipped) == (5, 0)
    first_inbox = backend.receive_inbox("!fan.srv1")
    assert sorted(channel for channel, _ in first_inbox) == sorted(members[:3]), "one call gets the whole inbox's share"
    got = first_inbox + drain_inbox(backend, "!fan.srv2") + drain(backend, ["fan.normal"])
    assert drain_inbox(backend, "!fan.srv3") == []
    assert sorted(channel for channel, _ in got) == sorted(members)
    assert all(message == {"id": 1, "content": "hi"} for _, message in got)


def test_group_send_follows_membership_changes(backend: BaseBackend) -> None:
    """Members joining or leaving between sends, in one inbox, get exactly the sends they were in for."""
    first, second = "!churn.srv.first", "!churn.srv.second"
    backend.group_add("churn", first)
    backend.group_send("churn", {"n": 1})
    backend.group_add("churn", second)
    backend.group_add("churn", first)  # a refresh changes nothing
    backend.group_send("churn", {"n": 2})
    backend.group_discard("churn", first)
    backend.group_send("churn", {"n": 3})
    got = sorted((channel, message["n"]) for channel, message in drain_inbox(backend, "!churn.srv"))
    assert got == [(first, 1), (first, 2), (second, 2), (second, 3)]


def test_group_send_to_an_empty_group_does_nothing(backend: BaseBackend) -> None:
    result = backend.group_send("nobody", {"n": 1})
    assert (result.delivered, result.skipped) == (0, 0)


def test_group_send_skips_a_full_member_without_raising(backend: BaseBackend) -> None:
    backend.group_add("mixed", "!tiny.srv.full")
    backend.group_add("mixed", "!fine.srv.ok")
    backend.send("!tiny.srv.full", {"n": "fills it"})
    result = backend.group_send("mixed", {"n": "broadcast"})
    assert (result.delivered, result.skipped) == (1, 1)
    assert drain_inbox(backend, "!fine.srv") == [("!fine.srv.ok", {"n": "broadcast"})]
    assert drain_inbox(backend, "!tiny.srv") == [("!tiny.srv.full", {"n": "fills it"})]


def test_group_members_expire_unless_added_again(make_backend: MakeBackend) -> None:
    backend = make_backend(GROUP_EXPIRY=2)
    backend.group_add("expiring", "!exp.srv.kept")
    backend.group_add("expiring", "!exp.srv.dropped")
    wait_past(1)
    backend.group_add("expiring", "!exp.srv.kept")  # the keepalive refresh
    wait_until(lambda: "!exp.srv.dropped" not in backend.group_channels("expiring"), what="member to expire")
    assert backend.group_channels("expiring") == ["!exp.srv.kept"]
    assert backend.group_send("expiring", {}).delivered == 1
    wait_until(lambda: backend.group_channels("expiring") == [], what="refreshed member to expire too")


# Flush.


def test_flush_removes_every_message_and_group(backend: BaseBackend) -> None:
    backend.send("flushed.one", {})
    backend.send("!flushed.srv.a", {})
    backend.group_add("flushed", "!flushed.srv.a")
    backend.flush()
    assert backend.receive(["flushed.one"]) is None
    assert backend.receive_inbox("!flushed.srv") == []
    assert backend.group_channels("flushed") == []
