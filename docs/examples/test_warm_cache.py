"""The cache-warming example of docs/howto/warm-a-cache.rst, run as a worker would run it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache
from warm_cache import WARM_CACHE, cache_key, connect_signals, disconnect_signals, warm_cache

from channels_core.backends import BaseBackend, backends, get_backend
from channels_core.registry import Registry
from channels_core.worker import Worker
from liveblog.models import Liveblog


@pytest.fixture
def memory_backend(settings) -> Iterator[BaseBackend]:
    settings.CHANNEL_BACKENDS = {"default": {"BACKEND": "channels_core.backends.memory.InMemoryBackend"}}
    backends.reset()
    connect_signals()
    cache.clear()
    yield get_backend()
    disconnect_signals()
    backends.reset()


def run_worker_once(backend: BaseBackend) -> None:
    """Take the one waiting message and run its consumer, as ``runworker`` would."""
    received = backend.receive([WARM_CACHE])
    assert received is not None, "a message was sent to the worker"
    Worker(backend, Registry([warm_cache])).handle(*received)


def test_saving_a_post_asks_a_worker_to_warm_the_cache(memory_backend, db, django_capture_on_commit_callbacks) -> None:
    keynote = Liveblog.objects.create(slug="keynote", title="Keynote")
    with django_capture_on_commit_callbacks(execute=True):
        post = keynote.posts.create(body="Doors are open.")
    assert cache.get(cache_key("keynote")) is None, "the save itself did no cache work"

    run_worker_once(memory_backend)
    assert cache.get(cache_key("keynote")) == [post.as_message()]


def test_nothing_is_sent_for_a_save_that_is_rolled_back(memory_backend, db, django_capture_on_commit_callbacks) -> None:
    keynote = Liveblog.objects.create(slug="keynote", title="Keynote")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        keynote.posts.create(body="Never committed.")
    assert callbacks, "the message waits for the commit"
    assert memory_backend.receive([WARM_CACHE]) is None


def test_a_deleted_blog_leaves_no_stale_list(memory_backend, db) -> None:
    cache.set(cache_key("gone"), ["stale"])
    warm_cache(slug="gone")
    assert cache.get(cache_key("gone")) is None
