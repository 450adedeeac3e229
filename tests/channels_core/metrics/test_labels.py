"""Channel names as metric labels: response channels by kind, fresh names by prefix, the rest capped."""

from __future__ import annotations

import threading

from channels_core.metrics.labels import OTHER, OTHER_RESPONSE, BoundedLabels
from channels_core.names import new_channel_name
from channels_core.protocol import BODY_CHANNEL_PREFIX, RESPONSE_INBOX_PREFIX, START_CHANNEL_PREFIX


def test_response_channels_are_labelled_by_kind_never_by_id() -> None:
    labels = BoundedLabels(cap=3)
    server = new_channel_name("!django.websocket.send")
    assert {labels(new_channel_name(server)) for _ in range(50)} == {"!django.websocket.send"}
    assert labels(f"{server}.handled") == "!django.websocket.send"
    inbox = new_channel_name(RESPONSE_INBOX_PREFIX)
    assert labels(new_channel_name(inbox)) == RESPONSE_INBOX_PREFIX
    assert labels(inbox) == RESPONSE_INBOX_PREFIX
    assert labels("!myapp.reply.k3J9") == OTHER_RESPONSE


def test_fresh_normal_channels_are_labelled_by_prefix_and_take_no_place_under_the_cap() -> None:
    labels = BoundedLabels(cap=2)
    for _ in range(100):
        assert labels(new_channel_name(BODY_CHANNEL_PREFIX)) == BODY_CHANNEL_PREFIX
        assert labels(new_channel_name(START_CHANNEL_PREFIX)) == START_CHANNEL_PREFIX
    assert labels("chat.receive") == "chat.receive"


def test_normal_channels_keep_their_name_up_to_the_cap_then_share_other() -> None:
    labels = BoundedLabels(cap=3)
    assert [labels(f"jobs.{n}") for n in range(5)] == ["jobs.0", "jobs.1", "jobs.2", OTHER, OTHER]
    # The first names keep their label however often they come, and later ones stay "other".
    assert [labels(f"jobs.{n}") for n in (2, 0, 4, 1, 3)] == ["jobs.2", "jobs.0", OTHER, "jobs.1", OTHER]


def test_a_name_keeps_its_label_after_many_fresh_names_filled_the_memory() -> None:
    labels = BoundedLabels(cap=2)
    for _ in range(16 * 2 + 10):  # more fresh names than it remembers
        labels(new_channel_name(BODY_CHANNEL_PREFIX))
    assert [labels("a.one") for _ in range(5)] == ["a.one"] * 5
    assert labels("a.two") == "a.two"
    assert labels("a.three") == OTHER


def test_threads_never_label_more_names_than_the_cap() -> None:
    labels = BoundedLabels(cap=10)
    seen: set[str] = set()
    lock = threading.Lock()

    def label_many(offset: int) -> None:
        mine = {labels(f"t.{(offset + n) % 40}") for n in range(200)}
        with lock:
            seen.update(mine)

    threads = [threading.Thread(target=label_many, args=(n * 7,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen - {OTHER}) == 10
    assert OTHER in seen
