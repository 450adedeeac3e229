"""The drop log: one structured line per drop, at most N per reason per window, then how many went unlogged."""

from __future__ import annotations

import logging

import pytest

from channels_core.metrics.drop_log import DropLog


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def drop_log(clock: Clock) -> DropLog:
    return DropLog(logging.getLogger("tests.drops"), lines_per_window=3, window=10.0, clock=clock)


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "tests.drops"]


def test_each_drop_is_one_structured_line(drop_log: DropLog, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "tests.drops"):
        assert drop_log.dropped("expired", "jobs.a", 2, "older than 60 s")
    assert lines(caplog) == ["message dropped: reason=expired channel=jobs.a count=2: older than 60 s"]
    record = caplog.records[-1]
    assert (record.levelno, record.reason, record.channel, record.count) == (logging.WARNING, "expired", "jobs.a", 2)  # type: ignore[attr-defined]


def test_a_flood_is_cut_to_the_rate_and_the_next_window_says_how_many_went_unlogged(
    drop_log: DropLog, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "tests.drops"):
        written = [drop_log.dropped("expired", "jobs.a") for _ in range(100)]
        assert written == [True] * 3 + [False] * 97
        clock.now += 9.9  # still the same window
        assert not drop_log.dropped("expired", "jobs.a", count=5)
        clock.now += 0.1
        assert drop_log.dropped("expired", "jobs.b")
    logged = lines(caplog)
    assert len(logged) == 4
    assert logged[-1] == (
        "message dropped: reason=expired channel=jobs.b count=1 (and 102 more not logged: over 3 lines in 10 s)"
    )


def test_each_reason_has_its_own_rate(drop_log: DropLog, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "tests.drops"):
        for _ in range(10):
            drop_log.dropped("expired", "jobs.a")
        assert drop_log.dropped("full", "group:chat")
    assert [line.split()[2] for line in lines(caplog)] == ["reason=expired"] * 3 + ["reason=full"]
