"""Settings for a thumbnail worker that a test can catch in the middle of its work.

A worker started with ``DJANGO_SETTINGS_MODULE=tests.e2e.held_thumbnails``
makes thumbnails as usual, except that just before it saves a large thumbnail
(the small one is already on disk, the image still *pending*) it pushes the
path it is about to save to the Redis list :data:`HOLDING_KEY` and waits until
the test pushes anything to :func:`release_key` of that path. The test can then
let it finish, or ``kill -9`` it: mid-work, deterministically, with no sleeps
and no oversized images.

Only test workers use these settings; the app never waits.
"""

from __future__ import annotations

import os
from typing import Any

import redis
from django.apps import AppConfig

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.e2e.held_thumbnails.HeldThumbnails"]

#: The Redis list a held worker pushes the path it is holding to.
HOLDING_KEY = "thumbnailer-test:holding"
#: Seconds a held worker waits to be released before giving up (the test failed or forgot it).
RELEASE_TIMEOUT = 120


def release_key(path: str) -> str:
    """The Redis list whose first entry lets a worker holding ``path`` go on."""
    return f"thumbnailer-test:release:{path}"


class HoldBeforeLarge:
    """The storage thumbnails are made with, except that saving a large thumbnail waits for the test."""

    def __init__(self, storage: Any) -> None:
        self._storage = storage

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)

    def save(self, name: str, content: Any, **kwargs: Any) -> str:
        if name.endswith("-large.webp"):
            client = redis.Redis.from_url(os.environ["REDIS_URL"])
            try:
                client.rpush(HOLDING_KEY, name)
                if client.blpop([release_key(name)], timeout=RELEASE_TIMEOUT) is None:
                    raise RuntimeError(f"nobody released the worker holding {name} in {RELEASE_TIMEOUT} s")
            finally:
                client.close()
        return str(self._storage.save(name, content, **kwargs))


class HeldThumbnails(AppConfig):
    name = "tests.e2e.held_thumbnails"
    label = "held_thumbnails"

    def ready(self) -> None:
        from thumbnailer import thumbnails

        thumbnails.default_storage = HoldBeforeLarge(thumbnails.default_storage)  # type: ignore[attr-defined,assignment]
