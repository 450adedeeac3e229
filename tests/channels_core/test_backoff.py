"""Back-off while a backend is down: doubling pauses, a cap, a reset, and the log lines."""

from __future__ import annotations

import logging

import pytest

from channels_core import defaults
from channels_core.backoff import Backoff
from channels_core.exceptions import BackendUnavailable


def test_pauses_double_up_to_the_cap_and_reset_after_a_success(caplog: pytest.LogCaptureFixture) -> None:
    pauses: list[float] = []
    backoff = Backoff(logging.getLogger("test.backoff"), wait=pauses.append)
    for _ in range(10):
        backoff.failed(BackendUnavailable("Redis at redis://x is unavailable"))
    assert pauses[:3] == [defaults.RETRY_BACKOFF_MIN, defaults.RETRY_BACKOFF_MIN * 2, defaults.RETRY_BACKOFF_MIN * 4]
    assert max(pauses) == pauses[-1] == defaults.RETRY_BACKOFF_MAX
    with caplog.at_level(logging.INFO, logger="test.backoff"):
        backoff.succeeded()
        backoff.succeeded()
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO] == ["backend reachable again"]
    backoff.failed(BackendUnavailable("again"))
    assert pauses[-1] == defaults.RETRY_BACKOFF_MIN
    assert "backend unavailable, retrying in 0.1 s: again" in caplog.text
