"""``python manage.py loaddemo``: content for the demos, so a first visit shows something."""

from django.core.management.base import BaseCommand

from chat.models import Room
from liveblog.models import Liveblog, Post

KEYNOTE_POSTS = [
    "Doors are open and the hall is filling up.",
    "The keynote starts: Django, but event oriented.",
    "A view takes a request and returns a response; a consumer takes a message and may send messages.",
    "Live demo: a post saved in the admin appears on every reader's page without a reload.",
]


class Command(BaseCommand):
    help = "Create the demo live blog and its first posts (does nothing if it exists already)."

    def handle(self, *args, **options):
        liveblog, created = Liveblog.objects.get_or_create(
            slug="keynote",
            defaults={
                "title": "Keynote, live",
                "description": "Follow the keynote as it happens. Open this page in two windows, "
                "then write a post in the admin.",
            },
        )
        if created:
            for body in KEYNOTE_POSTS:
                Post.objects.create(liveblog=liveblog, body=body)
        self.stdout.write(f"Demo content {'created' if created else 'already there'}: {liveblog.get_absolute_url()}")
        Room.objects.get_or_create(slug="lobby", defaults={"title": "Lobby"})
        Room.objects.get_or_create(slug="staff", defaults={"title": "Staff room", "staff_only": True})
