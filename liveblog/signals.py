"""Push posts to readers as they are saved or deleted: the concepts text's own example.

The signal handlers run wherever the post is saved (the admin, a shell, a
management command), so readers hear about every change, whatever made it.
They send once the transaction has committed: a reader is never told about
a post that is then rolled back, and a page that fetches the posts after
hearing of one finds it there.
"""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import Post


def notify_on_commit(post: Post, action: str) -> None:
    # The message is made now, not at commit: by then a deleted post has lost its id.
    message = post.notification(action)
    liveblog = post.liveblog
    transaction.on_commit(lambda: liveblog.send_notification(message))


@receiver(post_save, sender=Post)
def post_saved(sender, instance: Post, created: bool, **kwargs) -> None:
    notify_on_commit(instance, "created" if created else "updated")


@receiver(post_delete, sender=Post)
def post_deleted(sender, instance: Post, **kwargs) -> None:
    notify_on_commit(instance, "deleted")
