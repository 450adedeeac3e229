"""``python manage.py resubmit_thumbnails``: roll-your-own retry for at-most-once work.

Channels deliver at most once. Images still pending after a while most likely
lost their message (or their worker); sending it again is safe because the
consumer is idempotent. Run it on a schedule, e.g. from cron every minute,
with the workers' settings (cron gives a command almost no environment;
``site.env`` holds the workers' variables, one ``NAME=value`` a line)::

    * * * * *  cd /srv/site && set -a && . ./site.env && .venv/bin/python manage.py resubmit_thumbnails --older-than 60

A retry needs a bound: an image whose worker dies on it every time (killed for
memory on the same huge photo, say) would be resent for ever. Each image
counts its attempts; after ``THUMBNAILER_MAX_ATTEMPTS`` of them, the command
gives up and marks it failed.
"""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from channels_core.management.shared_backend import SendingCommand
from thumbnailer.models import Image


# A SendingCommand: run as `manage.py resubmit_thumbnails` on the in-memory
# backend, its messages would stay in this short-lived process where no worker
# looks, so it refuses with an error instead of reporting work it did not do.
class Command(SendingCommand):
    help = (
        "Send images that are still pending after --older-than seconds to the thumbnail workers again; "
        "mark failed those already sent THUMBNAILER_MAX_ATTEMPTS times. Needs the Redis or database backend."
    )
    sends = "the images it resubmits"

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=float, default=60, metavar="SECONDS")

    def handle(self, *args, **options):
        cutoff = timezone.now() - timedelta(seconds=options["older_than"])
        stuck = Image.objects.filter(status=Image.Status.PENDING, updated__lt=cutoff)
        most = settings.THUMBNAILER_MAX_ATTEMPTS
        resubmitted = gave_up = 0
        for image in stuck:
            if image.attempts < most:
                image.request_thumbnails()
                resubmitted += 1
            elif give_up(image):
                gave_up += 1
        self.stdout.write(f"Resubmitted {resubmitted} pending image(s).")
        if gave_up:
            self.stdout.write(f"Gave up on {gave_up} image(s) after {most} attempts; marked failed.")


def give_up(image: Image) -> bool:
    """Mark ``image`` failed and tell its pages, unless a worker finished it meanwhile."""
    reason = f"Gave up after {image.attempts} attempts: no worker could make the thumbnails."
    # Only if it is still pending: checked and changed in one UPDATE, so a worker
    # that just saved it as done is not overwritten.
    still_pending = Image.objects.filter(pk=image.pk, status=Image.Status.PENDING)
    if not still_pending.update(status=Image.Status.FAILED, reason=reason, updated=timezone.now()):
        return False
    image.status, image.reason = Image.Status.FAILED, reason
    image.send_notification()
    return True
