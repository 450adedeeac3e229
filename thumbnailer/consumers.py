"""The worker's side: thumbnails, and the pages that wait for them.

The upload view answers at once; ``make_thumbnails`` runs later, in a worker.
Delivery is at most once, so the message may be lost (a worker killed while
holding it, a backend restart): the image then stays *pending*, and
``manage.py resubmit_thumbnails`` sends it again. That is safe because this
consumer is idempotent: a finished image is left alone, and a rerun replaces
files instead of adding more. A file Pillow cannot decode makes the image
*failed* at once, so only a lost message leaves it pending.
"""

import logging

from channels_core import Channel
from channels_core.context import current_message
from channels_core.decorators import consumer

from . import thumbnails
from .models import GALLERY, Image

logger = logging.getLogger(__name__)

#: What the uploader reads when their image cannot be decoded (the details go to the log).
UNREADABLE = "The image could not be read: it is damaged, or some of its data (its EXIF, say) is."


@consumer("thumbnailer.create")
def make_thumbnails(image_id, **kwargs):
    image = Image.objects.filter(pk=image_id).first()
    if image is None or image.status == Image.Status.DONE:
        return  # deleted meanwhile, or a resubmission of finished work
    try:
        thumbnails.make(image)
    except thumbnails.DECODING_ERRORS as error:
        # A file the form let through but Pillow cannot decode after all (or, for
        # an OSError, a storage that cannot read it). Sending it again would not
        # help: the image fails, and one line in the log says why (no traceback).
        logger.warning("thumbnails of image %s failed: %s: %s", image.pk, type(error).__name__, error)
        image.status, image.reason = Image.Status.FAILED, UNREADABLE
    else:
        image.status, image.reason = Image.Status.DONE, ""
    image.save()
    image.send_notification()


def connecting():
    """Whether the message being handled is a connect (these consumers also serve keepalives)."""
    return current_message().channel == "django.websocket.connect"


IMAGE_STREAM = r"^/thumbnailer/(?P<image_id>\d+)/stream/$"
GALLERY_STREAM = r"^/thumbnailer/stream/$"


@consumer("django.websocket.connect", path=IMAGE_STREAM)
@consumer("django.websocket.keepalive", path=IMAGE_STREAM)
def watch_image(send_channel, image_id, **kwargs):
    Image(pk=int(image_id)).group.add(send_channel)
    if connecting():  # the page asks for the current state, in case it missed the news
        Channel(send_channel).send(type="joined")


@consumer("django.websocket.connect", path=GALLERY_STREAM)
@consumer("django.websocket.keepalive", path=GALLERY_STREAM)
def watch_gallery(send_channel, **kwargs):
    GALLERY.add(send_channel)
    if connecting():
        Channel(send_channel).send(type="joined")


@consumer("django.websocket.disconnect", path=IMAGE_STREAM)
def stop_watching_image(send_channel, image_id, **kwargs):
    Image(pk=int(image_id)).group.discard(send_channel)


@consumer("django.websocket.disconnect", path=GALLERY_STREAM)
def stop_watching_gallery(send_channel, **kwargs):
    GALLERY.discard(send_channel)
