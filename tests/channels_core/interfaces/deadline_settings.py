"""Settings for the request-deadline stack tests: requests do not expire before the tests end.

The site lets requests expire at half the adapter's timeout, an older guard
against requests running after their 503. These tests must show that the
start ticket alone keeps such a request from running, so requests here keep
the backend's ``EXPIRY`` (60 s).
"""

from tests.settings import *  # noqa: F403
from tests.settings import CHANNEL_BACKENDS

CHANNEL_BACKENDS = {alias: {**config, "CHANNEL_EXPIRY": {}} for alias, config in CHANNEL_BACKENDS.items()}
