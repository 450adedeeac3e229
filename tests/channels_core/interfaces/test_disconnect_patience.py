"""A disconnect that finds its channel full waits for room as long as a message waits for its consumer.

A burst of disconnects (a thousand clients lost at once) can take the workers
longer to drain than a short ``GROUP_EXPIRY``; a disconnect given up on leaks
its socket's presence and channel session, so it waits for at least the
channel's expiry.
"""

from __future__ import annotations

import pytest

from channels_core.backends import backend_from_config
from channels_core.testing import wait_past, wait_until
from tests.channels_core.interfaces.test_websocket_server import RunningServer, take

DISCONNECT = "django.websocket.disconnect"
GROUP_EXPIRY = 0.3


@pytest.fixture
def crowded() -> RunningServer:
    """A server whose disconnect channel holds one message, with a group expiry of 0.3 s."""
    backend = backend_from_config(
        {
            "BACKEND": "channels_core.backends.memory.InMemoryBackend",
            "GROUP_EXPIRY": GROUP_EXPIRY,
            "CHANNEL_CAPACITY": {DISCONNECT: 1},
        }
    )
    server = RunningServer(backend)
    yield server
    server.stop()


def test_a_disconnect_waits_for_room_past_a_short_group_expiry(crowded: RunningServer) -> None:
    crowded.backend.send(DISCONNECT, {"another": "socket's disconnect"})  # the channel is full
    with crowded.connect():
        take(crowded.backend, "django.websocket.connect", 1)
    wait_past(3 * GROUP_EXPIRY)  # the condition is time itself: the socket's disconnect waits meanwhile
    assert crowded.backend.receive([DISCONNECT], timeout=0)[1] == {"another": "socket's disconnect"}  # room
    disconnect = wait_until(lambda: crowded.backend.receive([DISCONNECT], timeout=0), what="the disconnect")[1]
    assert disconnect["code"] == 1000
