"""Settings for the example site.

Everything a deployment changes comes from the environment; the defaults are
safe for a developer's machine (and only there):

* ``SECRET_KEY``: required when ``DEBUG`` is off.
* ``DEBUG``: ``1``/``true`` to turn on (default on for development).
* ``ALLOWED_HOSTS``: comma-separated (default: localhost names).
* ``DATABASE_URL``: e.g. ``postgres://user@db:5432/site`` (default: SQLite file).
* ``REDIS_URL``: switches the channel backend to Redis (comma-separate several to shard).
* ``CHANNELS_BACKEND=database``: switches the channel backend to the database.
* ``STATIC_ROOT``, ``MEDIA_ROOT``: where collected static files and uploads live.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_flag("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set in the environment when DEBUG is off")
    SECRET_KEY = "django-insecure-development-only-never-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")

INSTALLED_APPS = [
    # First, so that its runserver (HTTP, WebSockets and workers in one process)
    # replaces those of django.contrib.staticfiles and Django.
    "channels_core",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "liveblog",
    "chat",
    "thumbnailer",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "channels_core.context_processors.websocket",
            ],
        },
    },
]

# SQLite by default. IMMEDIATE transactions and WAL let several processes
# (runserver, workers) share the file without "database is locked" errors.
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"), conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = SQLITE_OPTIONS
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))  # where collectstatic writes
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))

# Interface servers (see channels_core/interfaces/).
CHANNELS_HTTP_TIMEOUT = float(os.environ.get("CHANNELS_HTTP_TIMEOUT", "20"))  # seconds before a 503
CHANNELS_RETRY_AFTER = int(os.environ.get("CHANNELS_RETRY_AFTER", "5"))  # the 503's Retry-After
CHANNELS_MAX_REQUEST_BODY = int(os.environ.get("CHANNELS_MAX_REQUEST_BODY", str(64 * 1024 * 1024)))
CHANNELS_WS_KEEPALIVE = float(os.environ.get("CHANNELS_WS_KEEPALIVE", "30"))
CHANNELS_WS_SEND_BUFFER = int(os.environ.get("CHANNELS_WS_SEND_BUFFER", "256"))  # messages per socket
CHANNELS_WS_SEND_BUFFER_BYTES = int(os.environ.get("CHANNELS_WS_SEND_BUFFER_BYTES", str(4 * 1024 * 1024)))
CHANNELS_WS_RECEIVE_RATE = float(os.environ.get("CHANNELS_WS_RECEIVE_RATE", "100"))  # frames/s per socket
CHANNELS_WS_RECEIVE_BURST = int(os.environ.get("CHANNELS_WS_RECEIVE_BURST", "200"))
# On SIGTERM, sockets close in batches spread over the window (channels_core/interfaces/drain.py).
CHANNELS_WS_DRAIN_WINDOW = float(os.environ.get("CHANNELS_WS_DRAIN_WINDOW", "5"))
CHANNELS_WS_DRAIN_BATCH = int(os.environ.get("CHANNELS_WS_DRAIN_BATCH", "500"))
CHANNELS_WS_COMPRESSION = env_flag("CHANNELS_WS_COMPRESSION", False)  # permessage-deflate: memory per socket
CHANNELS_SESSION_AGE = float(os.environ.get("CHANNELS_SESSION_AGE", "3600"))  # a socket's channel session
CHANNELS_WS_ALLOWED_ORIGINS = env_list("CHANNELS_WS_ALLOWED_ORIGINS", "")
CHANNELS_WS_URL = os.environ.get("CHANNELS_WS_URL", "")  # e.g. "/ws/" behind nginx
# Metrics for Prometheus (docs/howto/monitor.rst): counted unless CHANNELS_METRICS=0; gunicorn answers
# /metrics only to "Authorization: Bearer <CHANNELS_METRICS_TOKEN>" (no token: 404 for everybody).
CHANNELS_METRICS = env_flag("CHANNELS_METRICS", True)
CHANNELS_METRICS_TOKEN = os.environ.get("CHANNELS_METRICS_TOKEN", "")
# runworker and runwsserver serve theirs on this port when set (--metrics-port overrides it).
CHANNELS_METRICS_PORT = os.environ.get("CHANNELS_METRICS_PORT") or None
CHANNELS_METRICS_HOST = os.environ.get("CHANNELS_METRICS_HOST", "127.0.0.1")

# The channel backend: in-memory unless the environment names a shared one.
_redis_urls = env_list("REDIS_URL", "")
_channels_backend = os.environ.get("CHANNELS_BACKEND", "redis" if _redis_urls else "memory")
_BACKEND_CLASSES = {
    "memory": "channels_core.backends.memory.InMemoryBackend",
    "database": "channels_core.backends.database.DatabaseBackend",
    "redis": "channels_core.backends.redis.RedisBackend",
    # REDIS_URL then lists some of the cluster's nodes, to find the others from.
    "redis-cluster": "channels_core.backends.redis_cluster.RedisClusterBackend",
}
if _channels_backend not in _BACKEND_CLASSES:
    raise ImproperlyConfigured(f"CHANNELS_BACKEND={_channels_backend!r}; choose one of {', '.join(_BACKEND_CLASSES)}")
CHANNEL_BACKENDS = {
    "default": {
        "BACKEND": _BACKEND_CLASSES[_channels_backend],
        "HOSTS": _redis_urls or ["redis://127.0.0.1:6379/0"],
        "EXPIRY": 60,
        # Seconds a group member lasts unless added again (sockets are, on every keepalive).
        "GROUP_EXPIRY": float(os.environ.get("CHANNELS_GROUP_EXPIRY", "120")),
        # A request no worker has taken within half the adapter's timeout expires: in a
        # burst, the other half is left for the view, and nothing stale piles up.
        "CHANNEL_EXPIRY": {"django.wsgi.request": CHANNELS_HTTP_TIMEOUT / 2},
        "CAPACITY": 100,
        # A response inbox serves every client of one interface server; a request body
        # waits four 512 KiB chunks at a time ("Request bodies" in docs/topics/design.rst).
        "CHANNEL_CAPACITY": {"django.wsgi.request": 1000, "!*": 1000, "django.wsgi.body.*": 4},
        # The groups whose pages recover what their socket missed (docs/topics/recovery.rst):
        # a blog's readers (Liveblog.group) and a chat room (Room.group), with the messages kept.
        "GROUP_HISTORY": {"liveblog-*": 100, "chat-*": 200},
    }
}

# The thumbnailer demo's upload limits (the WSGI adapter carries up to CHANNELS_MAX_REQUEST_BODY).
THUMBNAILER_MAX_UPLOAD = int(os.environ.get("THUMBNAILER_MAX_UPLOAD", str(20 * 1024 * 1024)))
THUMBNAILER_MAX_PIXELS = int(os.environ.get("THUMBNAILER_MAX_PIXELS", str(40_000_000)))
THUMBNAILER_MAX_ATTEMPTS = int(os.environ.get("THUMBNAILER_MAX_ATTEMPTS", "3"))  # messages per image, then it fails
# Uploaded files through Django itself: fine for development; nginx serves them in compose.
SERVE_MEDIA = env_flag("SERVE_MEDIA", DEBUG)

if not DEBUG:
    SESSION_COOKIE_SECURE = env_flag("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_flag("SECURE_COOKIES", True)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "channels_core": {"handlers": ["console"], "level": os.environ.get("CHANNELS_LOG_LEVEL", "INFO")},
    },
}
