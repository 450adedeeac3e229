"""``python manage.py resubmit_thumbnails``: roll-your-own retry for at-most-once work.

Channels deliver at most once. Images still pending after a while most likely
lost their message (or their worker); sending it again is safe because the
consumer is idempotent. Run it on a schedule, e.g. from cron every minute::

    * * * * *  cd /srv/site && .venv/bin/python manage.py resubmit_thumbnails --older-than 60
"""

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from thumbnailer.models import Image


class Command(BaseCommand):
    help = "Send images that are still pending after --older-than seconds to the thumbnail workers again."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=float, default=60, metavar="SECONDS")

    def handle(self, *args, **options):
        cutoff = timezone.now() - timedelta(seconds=options["older_than"])
        stuck = Image.objects.filter(status=Image.Status.PENDING, updated__lt=cutoff)
        for image in stuck:
            image.request_thumbnails()
        self.stdout.write(f"Resubmitted {len(stuck)} pending image(s).")
