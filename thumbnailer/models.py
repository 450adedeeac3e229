"""Uploaded images and the thumbnails a worker makes of them after the response."""

from django.db import models
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from channels_core import Channel, Group

#: Longest side of each thumbnail, in pixels; the name is the stored file's suffix.
SIZES = {"small": 200, "large": 800}


class Image(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        FAILED = "failed"

    original = models.FileField(upload_to="originals/")
    #: What the uploader called it, shown to people only (never used as a path).
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    #: Why it failed, in words a person can read.
    reason = models.CharField(max_length=300, blank=True)
    #: How many times a worker was asked for the thumbnails: once at upload, then once
    #: per resubmission. ``resubmit_thumbnails`` gives up at THUMBNAILER_MAX_ATTEMPTS.
    attempts = models.PositiveSmallIntegerField(default=0)
    small = models.FileField(upload_to="thumbnails/", blank=True)
    large = models.FileField(upload_to="thumbnails/", blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("thumbnailer:detail", args=[self.pk])

    def request_thumbnails(self) -> None:
        """Ask a worker to make the thumbnails (one message), and count the attempt."""
        # Counted by the database (F), so two resubmissions at once both count. And
        # ``updated`` restarts the clock that ``resubmit_thumbnails --older-than``
        # reads: each attempt gets its full time before the next.
        Image.objects.filter(pk=self.pk).update(attempts=F("attempts") + 1, updated=timezone.now())
        Channel("thumbnailer.create").send(image_id=self.pk)

    @property
    def group(self) -> Group:
        """Pages showing this image (its detail page)."""
        return Group(f"thumbnailer-image-{self.pk}")

    def as_message(self) -> dict[str, object]:
        return {
            "id": self.pk,
            "title": self.title,
            "status": self.status,
            "reason": self.reason,
            "small": self.small.url if self.small else None,
            "large": self.large.url if self.large else None,
            "url": self.get_absolute_url(),
        }

    def send_notification(self) -> None:
        """Tell the pages showing this image (and the gallery) its new state."""
        message = {"type": "image", "image": self.as_message()}
        self.group.send(message)
        GALLERY.send(message)


#: Every open gallery page.
GALLERY = Group("thumbnailer-gallery")
