"""Settings of our stack for ``bench/scale.py`` and ``bench/scale_restart.py``: the benchmark settings,
with compression and the drain from the environment.

``CHANNELS_WS_COMPRESSION=1`` lets clients negotiate permessage-deflate;
``CHANNELS_WS_DRAIN_WINDOW`` and ``CHANNELS_WS_DRAIN_BATCH``, when set, say how
a stopping server closes its sockets (the project's settings do not read these
from the environment).
"""

import os

from bench.bench_settings import *  # noqa: F403

CHANNELS_WS_COMPRESSION = os.environ.get("CHANNELS_WS_COMPRESSION") == "1"
if "CHANNELS_WS_DRAIN_WINDOW" in os.environ:
    CHANNELS_WS_DRAIN_WINDOW = float(os.environ["CHANNELS_WS_DRAIN_WINDOW"])
if "CHANNELS_WS_DRAIN_BATCH" in os.environ:
    CHANNELS_WS_DRAIN_BATCH = int(os.environ["CHANNELS_WS_DRAIN_BATCH"])
