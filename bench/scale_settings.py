"""Settings of our stack for ``bench/scale.py``: the benchmark settings, with compression from the environment.

``CHANNELS_WS_COMPRESSION=1`` lets clients negotiate permessage-deflate (the
project's settings do not read that setting from the environment).
"""

import os

from bench.bench_settings import *  # noqa: F403

CHANNELS_WS_COMPRESSION = os.environ.get("CHANNELS_WS_COMPRESSION") == "1"
