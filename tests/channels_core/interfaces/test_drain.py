"""A graceful drain: a stopping WebSocket server closes its sockets in batches over a window (issue 21, acceptance 2).

The plan (when each batch goes) is checked on its own; then 2,000 sockets on
one real ``runwsserver`` all receive a group broadcast, and SIGTERM drains
them: the clients see the close frames arrive batch after batch, never more
of them than the batches the server had started, and the workers handle each
socket's disconnect exactly once.
"""

from __future__ import annotations

import contextlib
import random
import re
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from channels_core.interfaces.drain import DrainPlan
from channels_core.testing import ManagedProcess

from .stack import Stack
from .test_many_sockets import CROWD_SCRIPT, OPEN_DEADLINE, Crowd, server_warnings, wait_for

# The plan.


def test_sockets_that_fit_in_one_batch_close_at_once() -> None:
    assert DrainPlan(window=5.0, batch=500).offsets(500) == [0.0]
    assert DrainPlan(window=5.0, batch=500).offsets(0) == [0.0]


def test_batches_go_in_order_each_in_its_own_slice_of_the_window() -> None:
    offsets = DrainPlan(window=4.0, batch=250).offsets(2000, random.Random(7))
    assert len(offsets) == 8
    for number, offset in enumerate(offsets):
        assert number * 0.5 <= offset < (number + 1) * 0.5


def test_a_window_of_zero_closes_every_batch_at_once() -> None:
    assert DrainPlan(window=0, batch=10).offsets(35) == [0.0] * 4


@pytest.mark.parametrize(("window", "batch"), [(-1.0, 10), (5.0, 0)])
def test_a_plan_refuses_a_negative_window_or_an_empty_batch(window: float, batch: int) -> None:
    with pytest.raises(ValueError, match="drain"):
        DrainPlan(window=window, batch=batch)


# 2,000 sockets on a real server.


class EchoCrowd(Crowd):
    """``count`` sockets of ``crowd.py`` on ``/echo/``, whose test consumers join :data:`GROUP` and record
    ``disconnect <code> <send_channel>``; with ``stall``, that socket never reads."""

    def __init__(self, stack: Stack, count: int, stall: int | None = None) -> None:
        self.count = count
        command = [sys.executable, str(CROWD_SCRIPT), stack.ws_url("/echo/"), str(count)]
        if stall is not None:
            command += ["--stall", str(stall)]
        self.process = ManagedProcess(command, {}, stack.tmp / "crowd.log")


@contextlib.contextmanager
def echo_crowd(stack: Stack, count: int, stall: int | None = None) -> Iterator[EchoCrowd]:
    """``count`` sockets open, and all of them in :data:`GROUP` (their connects handled); stopped after."""
    crowd = EchoCrowd(stack, count, stall)
    try:
        crowd.wait_open()
        wait_for(
            lambda: len(stack.backend.group_channels(GROUP)) == count,
            OPEN_DEADLINE,
            f"all {count} sockets to join {GROUP!r}",
            lambda: f"{len(stack.backend.group_channels(GROUP))} members; {server_warnings(stack)}",
        )
        yield crowd
    finally:
        crowd.stop()


SOCKETS = 2000
GROUP = "echoers"  # the /echo/ consumers of tests/testapp join it on connect and on keepalive
SETTINGS = "tests.channels_core.interfaces.drain_settings"  # window 4 s, batches of 250
BROADCAST = {"to": "every echoer"}
DRAIN_LOG = re.compile(r"drain: batch (\d+) of (\d+), closing (\d+) socket\(s\) with 1001 \(monotonic clock ([\d.]+)\)")


@pytest.mark.slow
def test_sigterm_drains_two_thousand_sockets_in_batches_and_emits_each_disconnect_once(tmp_path: Path) -> None:
    with Stack(tmp_path) as stack:
        server = stack.start_ws(env={"DJANGO_SETTINGS_MODULE": SETTINGS})
        for number in (1, 2):
            stack.start_worker(f"worker-{number}", threads=8)
        with echo_crowd(stack, SOCKETS) as crowd:
            stack.backend.group_send(GROUP, BROADCAST)
            wait_for(
                lambda: len(crowd.reached(BROADCAST)) == SOCKETS,
                OPEN_DEADLINE,
                f"the broadcast to reach all {SOCKETS} sockets",
                lambda: f"{len(crowd.reached(BROADCAST))} reached; {server_warnings(stack)}",
            )

            server.signal(signal.SIGTERM)
            wait_for(
                lambda: len(crowd.closed()) == SOCKETS,
                OPEN_DEADLINE,
                f"all {SOCKETS} sockets to be closed",
                lambda: f"{len(crowd.closed())} closed; {server_warnings(stack)}",
            )
            closes = closes_of(crowd)
        assert server.process.wait(OPEN_DEADLINE) == 0

        batches = [(int(size), float(clock)) for _, _, size, clock in DRAIN_LOG.findall(server.output())]
        assert len(batches) == 8, server.output()[-3000:]
        assert [size for size, _ in batches] == [250] * 8
        assert {code for code, _ in closes} == {1001}
        # No client saw more closes than the batches the server had started by then: the drain
        # spread them, where closing all at once would put all 2,000 before the second batch.
        close_times = sorted(clock for _, clock in closes)
        for number, (_, started) in enumerate(batches[1:], start=1):
            seen_before = sum(clock < started for clock in close_times)
            assert seen_before <= sum(size for size, _ in batches[:number]), (number, seen_before)
        buckets = {sum(clock >= started for _, started in batches) for clock in close_times}
        assert len(buckets) > 1, "every close arrived within one batch"

        def disconnects() -> list[str]:
            return [line for line in stack.records_lines() if line.startswith("disconnect ")]

        wait_for(
            lambda: len(set(disconnects())) == SOCKETS,
            OPEN_DEADLINE,
            f"the disconnects of all {SOCKETS} sockets to be handled",
            lambda: f"{len(set(disconnects()))} handled",
        )
        assert len(disconnects()) == SOCKETS  # each once
        assert {line.split()[1] for line in disconnects()} == {"1001"}


def closes_of(crowd: Crowd) -> list[tuple[int, float]]:
    """(close code, monotonic time) of each socket the server closed, as its client saw it."""
    return [(int(code), float(clock)) for _, rest in crowd.closed() for code, clock in [rest.split()]]
