"""Every saved or deleted post reaches the blog's readers, after the transaction commits."""

from __future__ import annotations

import logging

import pytest
from django.db import transaction

from channels_core.backends import backends
from channels_core.testing import free_port
from liveblog.models import Post

READER = "!django.websocket.send.srv1.reader"
INBOX = "!django.websocket.send.srv1"


def _pushed(backend) -> list[tuple[str, dict]]:
    return [(message["type"], message["post"]["body"]) for _, message in backend.receive_inbox(INBOX)]


def test_create_update_delete_are_pushed(memory_backend, keynote, django_capture_on_commit_callbacks) -> None:
    keynote.group.add(READER)
    with django_capture_on_commit_callbacks(execute=True):
        post = Post.objects.create(liveblog=keynote, body="First!")
    with django_capture_on_commit_callbacks(execute=True):
        post.body = "First, edited"
        post.save()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        post.delete()  # inside a transaction, as the admin deletes
    assert _pushed(memory_backend) == [
        ("post.created", "First!"),
        ("post.updated", "First, edited"),
        ("post.deleted", "First, edited"),
    ]
    assert post.pk is None  # Django cleared it; the message was made before


def test_a_deleted_post_is_named_by_its_id(memory_backend, keynote, django_capture_on_commit_callbacks) -> None:
    keynote.group.add(READER)
    post = Post.objects.create(liveblog=keynote, body="Going")
    post_id = post.pk
    memory_backend.receive_inbox(INBOX)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        post.delete()
    ((_, message),) = memory_backend.receive_inbox(INBOX)
    assert message["type"] == "post.deleted" and message["post"]["id"] == post_id


def test_nothing_is_pushed_before_the_commit(memory_backend, keynote, django_capture_on_commit_callbacks) -> None:
    keynote.group.add(READER)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        Post.objects.create(liveblog=keynote, body="Not yet")
    assert _pushed(memory_backend) == []
    callbacks[0]()
    assert _pushed(memory_backend) == [("post.created", "Not yet")]


@pytest.mark.django_db
def test_a_post_is_saved_even_when_readers_cannot_be_told(settings, keynote, caplog) -> None:
    closed_port = free_port()  # nothing listens there: a real connection failure
    settings.CHANNEL_BACKENDS = {
        "default": {
            "BACKEND": "channels_core.backends.redis.RedisBackend",
            "HOSTS": [f"redis://127.0.0.1:{closed_port}/0"],
        }
    }
    backends.reset()
    try:
        post = Post.objects.create(liveblog=keynote, body="Saved anyway")
        with caplog.at_level(logging.ERROR, logger="liveblog.models"):
            keynote.send_notification(post.notification("created"))
    finally:
        backends.reset()
    assert Post.objects.filter(body="Saved anyway").exists()
    assert "could not notify the readers of Keynote, live" in caplog.text
