"""Warm a cache after a save: a worker rebuilds it after the response.

The example of docs/howto/warm-a-cache.rst, tested by test_warm_cache.py beside
it. In an app of your own, the consumer goes in the app's ``consumers.py`` (so
workers find it) and ``connect_signals()`` is called from ``AppConfig.ready()``.
"""

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from channels_core import Channel
from channels_core.decorators import consumer
from liveblog.models import Liveblog, Post

#: The channel that asks for a blog's cached post list to be rebuilt.
WARM_CACHE = "liveblog.warm-cache"


def cache_key(slug: str) -> str:
    return f"liveblog:{slug}:posts"


def request_warming(sender: type[Post], instance: Post, **kwargs: object) -> None:
    """After a post is saved or deleted, ask a worker to rebuild its blog's list, once the change is committed."""
    slug = instance.liveblog.slug
    transaction.on_commit(lambda: Channel(WARM_CACHE).send(slug=slug))


@consumer(WARM_CACHE)
def warm_cache(slug: str, **kwargs: object) -> None:
    """Rebuild the cached list: the same data the ``posts.json`` view returns."""
    liveblog = Liveblog.objects.filter(slug=slug).first()
    if liveblog is None:
        cache.delete(cache_key(slug))
        return
    cache.set(cache_key(slug), [post.as_message() for post in liveblog.posts.all()], timeout=None)


def connect_signals() -> None:
    post_save.connect(request_warming, sender=Post, dispatch_uid="warm_cache.saved")
    post_delete.connect(request_warming, sender=Post, dispatch_uid="warm_cache.deleted")


def disconnect_signals() -> None:
    post_save.disconnect(sender=Post, dispatch_uid="warm_cache.saved")
    post_delete.disconnect(sender=Post, dispatch_uid="warm_cache.deleted")
