"""Django Channels' settings for the benchmark: the project's settings (same middleware, same view) minus channels_core.

``CHANNEL_LAYERS`` points at the benchmark's private redis-server (``REDIS_URL``).
"""

import os

from bench.bench_settings import *  # noqa: F403

INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "channels_core"] + ["channels"]  # noqa: F405
TEMPLATES[0]["OPTIONS"]["context_processors"] = [  # noqa: F405
    name
    for name in TEMPLATES[0]["OPTIONS"]["context_processors"]  # noqa: F405
    if not name.startswith("channels_core")
]
ASGI_APPLICATION = "bench.peer_asgi.asgi.application"

#: Capacity is counted per Redis key, and every socket of one daphne process shares that
#: process's key, so a broadcast burst to 200 sockets piles up there: the default of 100
#: would silently drop messages. Set high so nothing is refused (as in bench/run.py).
BIG = 10_000_000
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # socket_timeout above the layer's 5 s blocking pop (django/channels_redis#422, see bench/README.md).
            "hosts": [{"address": os.environ["REDIS_URL"], "socket_timeout": 30}],
            "capacity": BIG,
        },
    }
}
