"""Request deadlines with real processes (issue 14, acceptance point 2): gunicorn, ``runworker``, Redis, SQLite.

* A POST answered 503 never takes effect, not even when a worker starts
  later with the request still on its channel.
* A worker paused inside the view past the deadline: its client gets 504
  (the outcome is unknown; the view may still finish), never 503.
"""

from __future__ import annotations

import contextlib
import signal
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from channels_core.testing import wait_until

from .stack import Stack

pytestmark = pytest.mark.slow

#: Requests here never expire on their own before the test ends: only the start ticket can stop them.
SETTINGS = "tests.channels_core.interfaces.deadline_settings"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(tmp_path, DJANGO_SETTINGS_MODULE=SETTINGS, CHANNELS_HTTP_TIMEOUT="2")
    yield stack
    stack.stop()


def post(stack: Stack, text: str, query: str = "") -> requests.Response:
    """POST to the view that saves a chat message with ``text``: a row to look for."""
    return requests.post(stack.url(f"/tests/write-row/{query}"), data={"text": text}, timeout=30)


def rows(stack: Stack) -> list[str]:
    """The texts of the rows the view saved, oldest first."""
    with contextlib.closing(sqlite3.connect(stack.tmp / "db.sqlite3")) as database:
        return [
            text for (text,) in database.execute("SELECT text FROM chat_message WHERE author = 'tests' ORDER BY id")
        ]


def test_a_post_answered_503_never_takes_effect_though_a_worker_starts_later(stack: Stack) -> None:
    stack.start_gunicorn()
    refused = post(stack, "first")
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "5"
    assert "it did not start and never will, so it is safe to retry" in refused.text
    worker = stack.start_worker(threads=1)  # one thread: it handles the first request before the second
    served = post(stack, "second")
    assert served.status_code == 200
    wait_until(lambda: rows(stack) == ["second"], what="the second POST's row")
    wait_until(
        # Past its deadline here; a worker whose clock lags would find its start ticket gone instead.
        lambda: "POST /tests/write-row/ dropped, not started" in worker.output(),
        what="the worker to log that it dropped the first POST",
    )
    assert rows(stack) == ["second"], "the first POST's row never appears, the second's appears once"
    assert stack.records_lines() == [f"started second {worker.process.pid}"]


def test_a_worker_paused_inside_the_view_past_the_deadline_means_504_not_503(stack: Stack, tmp_path: Path) -> None:
    worker = stack.start_worker(threads=1)
    stack.start_gunicorn()
    flag = tmp_path / "carry-on"
    with ThreadPoolExecutor(1) as pool:
        answering = pool.submit(post, stack, "paused", f"?flag={flag}")
        wait_until(lambda: stack.records_lines() == [f"started paused {worker.process.pid}"], what="the view to start")
        worker.signal(signal.SIGSTOP)
        try:
            answer = answering.result(timeout=30)
        finally:
            worker.signal(signal.SIGCONT)
    assert answer.status_code == 504
    assert "Retry-After" not in answer.headers
    assert "a worker started the request" in answer.text and "its outcome is unknown" in answer.text
    # The adapter was right not to promise anything: resumed, the view carries on and saves its row.
    flag.touch()
    wait_until(lambda: rows(stack) == ["paused"], what="the resumed view's row")
