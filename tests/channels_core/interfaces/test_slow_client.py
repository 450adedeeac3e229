"""A client that stops reading while broadcasts flow to 2,000 sockets is closed (issue 21, acceptance 3).

Its replies pile up in the server (its send buffer, after the ``websockets``
write buffer and the kernel's), up to the send buffer's bound; then the server
closes it with 1013 (try again later), and its disconnect says so. The others
keep getting every broadcast, and the server's memory stays bounded: what the
stalled client was not sent is not kept.

The send buffer is 16 replies here (256 by default) and the broadcasts are
32 KiB, so a few dozen reach the bound: before the server's ping times out
(40 s), which would close the socket too, with 1011. The kernel's buffers on
loopback hold about a megabyte on the server's side whatever the client does.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from channels_core.testing import wait_until

from .stack import Stack
from .test_drain import GROUP, echo_crowd
from .test_many_sockets import DELIVERY_DEADLINE, server_warnings, wait_for

pytestmark = pytest.mark.slow

SOCKETS = 2000
STALLED = 0
SEND_BUFFER = 16
#: Broadcasts of 32 KiB, sent a round at a time, fewer than the send buffer holds, so readers keep up.
PAD = "x" * 32 * 1024
ROUND = 8
MOST_ROUNDS = 20
#: Generous: a frame or two in each of 2,000 sockets' write buffers at the end of a round, and the
#: allocator's slack. Without a bound, a stalled client would hold every broadcast sent after it stalled.
RSS_GROWTH_BOUND = 256 * 1024 * 1024
CLOSED_SLOW = re.compile(r"closing (\S+): \d+ replies \(\d+ bytes\) wait and the client does not read")


def resident_bytes(pid: int) -> int:
    """The process's resident memory (``VmRSS`` of ``/proc/<pid>/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def test_a_client_that_stops_reading_is_closed_with_1013_and_the_server_memory_stays_bounded(tmp_path: Path) -> None:
    with Stack(tmp_path, CHANNELS_WS_SEND_BUFFER=str(SEND_BUFFER)) as stack:
        server = stack.start_ws()
        for number in (1, 2):
            stack.start_worker(f"worker-{number}", threads=8)
        with echo_crowd(stack, SOCKETS, stall=STALLED) as crowd:
            before = resident_bytes(server.process.pid)
            closed: list[str] = []
            for round_ in range(MOST_ROUNDS):
                for n in range(ROUND):
                    stack.backend.group_send(GROUP, {"round": round_, "n": n, "pad": PAD})
                marker = {"round": round_, "end": True}
                stack.backend.group_send(GROUP, marker)
                wait_for(
                    lambda marker=marker: len(crowd.reached(marker)) == SOCKETS - 1,  # type: ignore[misc]
                    DELIVERY_DEADLINE,
                    f"round {round_} to reach every reader",
                    lambda marker=marker: f"{len(crowd.reached(marker))} reached; {server_warnings(stack)}",  # type: ignore[misc]
                )
                closed = CLOSED_SLOW.findall(server.output())
                if closed:
                    break
            after = resident_bytes(server.process.pid)
            assert len(closed) == 1, f"after {round_ + 1} rounds: {server_warnings(stack)}"
            assert crowd.closed() == []  # every reader kept its socket
        stalled = closed[0]
        disconnect = wait_until(
            lambda: [line for line in stack.records_lines() if line.endswith(f" {stalled}")],
            DELIVERY_DEADLINE,
            "the stalled socket's disconnect",
        )
        assert disconnect == [f"disconnect 1013 {stalled}"]
        assert after - before < RSS_GROWTH_BOUND, (before, after)
