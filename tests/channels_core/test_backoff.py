"""Back-off while a backend is down: doubling pauses, a cap, a reset, and an outage logged once."""

from __future__ import annotations

import logging

import pytest

from channels_core import defaults
from channels_core.backoff import Backoff
from channels_core.exceptions import BackendUnavailable


@pytest.fixture
def logger(request: pytest.FixtureRequest) -> logging.Logger:
    """A logger of this test's own: back-offs of one logger share their outage for the whole process."""
    return logging.getLogger(f"test.backoff.{request.node.name}")


def _lines(caplog: pytest.LogCaptureFixture, logger: logging.Logger) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == logger.name]


def test_pauses_double_up_to_the_cap_and_reset_after_a_success(logger: logging.Logger) -> None:
    pauses: list[float] = []
    backoff = Backoff(logger, wait=pauses.append)
    for _ in range(10):
        backoff.failed(BackendUnavailable("Redis at redis://x is unavailable"))
    assert pauses[:3] == [defaults.RETRY_BACKOFF_MIN, defaults.RETRY_BACKOFF_MIN * 2, defaults.RETRY_BACKOFF_MIN * 4]
    assert max(pauses) == pauses[-1] == defaults.RETRY_BACKOFF_MAX
    backoff.succeeded()
    backoff.failed(BackendUnavailable("again"))
    assert pauses[-1] == defaults.RETRY_BACKOFF_MIN


def test_an_outage_is_logged_when_it_starts_and_when_it_ends(
    logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    backoff = Backoff(logger, wait=lambda seconds: None)
    with caplog.at_level(logging.DEBUG, logger=logger.name):
        backoff.succeeded()  # no outage yet: nothing to say
        for attempt in range(5):
            backoff.failed(BackendUnavailable(f"database 'default' is unavailable: attempt {attempt}"))
        backoff.succeeded()
        backoff.succeeded()
    lines = _lines(caplog, logger)
    assert lines[0] == (
        "ERROR",
        f"backend unavailable, retrying with back-off (at most {defaults.RETRY_BACKOFF_MAX:g} s apart) "
        "until it returns: database 'default' is unavailable: attempt 0",
    )
    assert [level for level, _ in lines[1:5]] == ["DEBUG"] * 4
    assert lines[1][1] == "backend still unavailable, retrying in 0.2 s: database 'default' is unavailable: attempt 1"
    assert len(lines) == 6
    level, ended = lines[5]
    assert level == "WARNING"
    assert ended.startswith("backend reachable again after ") and ended.endswith(" s unavailable")


def test_back_offs_of_one_logger_report_one_outage_between_them(
    logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker's threads have a back-off each; a restart of the backend is still one ERROR and one WARNING."""
    threads = [Backoff(logger, wait=lambda seconds: None) for _ in range(4)]
    with caplog.at_level(logging.INFO, logger=logger.name):
        for backoff in threads:
            backoff.failed(BackendUnavailable("down"))
            backoff.failed(BackendUnavailable("down"))
        for backoff in threads:
            backoff.succeeded()
        assert [level for level, _ in _lines(caplog, logger)] == ["ERROR", "WARNING"]
        threads[2].failed(BackendUnavailable("down again"))  # a new outage is news again
    assert [level for level, _ in _lines(caplog, logger)] == ["ERROR", "WARNING", "ERROR"]
    assert _lines(caplog, logger)[-1][1].endswith("until it returns: down again")


def test_back_offs_of_different_loggers_report_their_own_outages(
    logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    other = logging.getLogger(f"{logger.name}.other")
    with caplog.at_level(logging.INFO):
        Backoff(logger, wait=lambda seconds: None).failed(BackendUnavailable("down"))
        Backoff(other, wait=lambda seconds: None).failed(BackendUnavailable("down"))
    assert [level for level, _ in _lines(caplog, logger)] == ["ERROR"]
    assert [level for level, _ in _lines(caplog, other)] == ["ERROR"]
