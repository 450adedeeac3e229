"""A live blog: a page of short posts that readers watch update as they are written."""

import logging

from django.db import models
from django.urls import reverse

from channels_core import Group
from channels_core.exceptions import ChannelsError

logger = logging.getLogger(__name__)


class Liveblog(models.Model):
    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("liveblog:detail", args=[self.slug])

    @property
    def group(self) -> Group:
        """The readers of this blog: every open socket on its page.

        The name lives here, on the model, so the consumers that add readers
        and the signals that send to them cannot disagree about it.
        """
        return Group(f"liveblog-{self.slug}")

    def send_notification(self, message: dict[str, object]) -> None:
        """Send one message to every reader: the only place the live blog broadcasts from.

        One message to the group; the backend gives each reader's socket a copy.
        """
        try:
            self.group.send(message)
        except ChannelsError:
            # The post is saved; readers catch up when their page reconnects.
            logger.exception("could not notify the readers of %s", self)


class Post(models.Model):
    liveblog = models.ForeignKey(Liveblog, related_name="posts", on_delete=models.CASCADE)
    body = models.TextField()
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return self.body[:50]

    def as_message(self) -> dict[str, object]:
        """The post as readers' pages receive it: plain data, never HTML.

        The page puts ``body`` in with ``textContent``, so whatever a writer
        types is shown as text and can never run as script.
        """
        return {
            "id": self.pk,
            "body": self.body,
            "created": self.created.isoformat(),
            "updated": self.updated.isoformat(),
        }

    def notification(self, action: str) -> dict[str, object]:
        """What readers are told when this post is ``created``, ``updated`` or ``deleted``."""
        return {"type": f"post.{action}", "post": self.as_message()}
