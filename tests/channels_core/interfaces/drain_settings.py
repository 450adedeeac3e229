"""Settings for the WebSocket server of the drain test: 2,000 sockets close in 8 batches over 4 seconds."""

from tests.settings import *  # noqa: F403

CHANNELS_WS_DRAIN_WINDOW = 4.0
CHANNELS_WS_DRAIN_BATCH = 250
