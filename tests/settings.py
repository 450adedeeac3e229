"""Settings for the test suite: the site's settings plus a test app and a PostgreSQL alias.

* SQLite tests use a file (not memory) so worker threads and ``runworker``
  processes see the same database; its path is ``TEST_SQLITE_PATH``.
* PostgreSQL comes from ``TEST_POSTGRES_URL`` (default: the local server,
  database ``test``); tests that need it get the alias ``postgres``.
"""

import os
import tempfile
from pathlib import Path

import dj_database_url

from config.settings import *  # noqa: F403
from config.settings import DATABASES, INSTALLED_APPS, SQLITE_OPTIONS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]

TEST_SQLITE_PATH = os.environ.get(
    "TEST_SQLITE_PATH", str(Path(tempfile.gettempdir()) / f"edd-tests-{os.getpid()}.sqlite3")
)
TEST_POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")

DATABASES = {
    "default": {**DATABASES["default"], "TEST": {"NAME": TEST_SQLITE_PATH}, "OPTIONS": SQLITE_OPTIONS}
    if DATABASES["default"]["ENGINE"].endswith("sqlite3")
    else DATABASES["default"],
    # A test database per run, so two runs on one machine never drop each other's.
    "postgres": {**dj_database_url.parse(TEST_POSTGRES_URL), "TEST": {"NAME": f"test_edd_{os.getpid()}"}},
}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests

ROOT_URLCONF = "tests.urls"

# A second channel backend, for `runworker --alias other`: the same Redis under another key prefix.
if os.environ.get("TEST_OTHER_REDIS_URL"):
    from config.settings import CHANNEL_BACKENDS

    CHANNEL_BACKENDS = {
        **CHANNEL_BACKENDS,
        "other": {
            "BACKEND": "channels_core.backends.redis.RedisBackend",
            "HOSTS": [os.environ["TEST_OTHER_REDIS_URL"]],
            "PREFIX": "other:",
        },
    }
