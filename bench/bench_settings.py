"""Settings for ``bench/interfaces.py``: the project's settings with the benchmark app and URLs.

Used by our stack (``runworker``, ``runwsserver``, ``gunicorn config.wsgi``) and
by plain Django under gunicorn, both with ``PYTHONPATH=<repo root>`` and
``DJANGO_SETTINGS_MODULE=bench.bench_settings``. Middleware, the channel
backend (from ``REDIS_URL``), capacities and ``DEBUG`` are the project's, read
from the same environment variables.

Of the installed apps only Django's and ``channels_core`` are kept: the
benchmark measures the interface layer, and the site's own apps (their
consumers would give our workers more channels to listen on, their models
import ``channels_core``, which the peer's side does not install) play no part
in it.
"""

from config.settings import *  # noqa: F403

INSTALLED_APPS = [
    app
    for app in INSTALLED_APPS  # noqa: F405
    if app == "channels_core" or app.startswith("django.")
] + ["bench.benchapp"]
ROOT_URLCONF = "bench.benchapp.urls"

# The echo load's 50 clients each send well over a hundred frames a second, which the WebSocket
# server's per-socket receive rate (CHANNELS_WS_RECEIVE_RATE, 100 by default) would slow down on
# purpose; daphne has no such limit. The benchmark measures throughput, so it lifts it.
CHANNELS_WS_RECEIVE_RATE = 0
