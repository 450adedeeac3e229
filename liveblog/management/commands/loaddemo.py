"""``python manage.py loaddemo``: content for the demos, so a first visit shows something.

It also says how to sign in to the admin, where posts are written. It never
creates an account itself: a demo user with a password everyone knows would
be a way in on any site deployed from this project (docker compose runs
loaddemo too). ``createsuperuser`` asks for a name and a password of your own.
"""

import shutil
import sys
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.urls import reverse

from chat.models import Room
from liveblog.models import Liveblog, Post

KEYNOTE_POSTS = [
    "Doors are open and the hall is filling up.",
    "The keynote starts: Django, but event oriented.",
    "A view takes a request and returns a response; a consumer takes a message and may send messages.",
    "Live demo: a post saved in the admin appears on every reader's page without a reload.",
]


def python_command() -> str:
    """This interpreter as the reader would type it: ``.venv/bin/python`` here, ``python`` in the container."""
    executable = Path(sys.executable)
    here = Path.cwd()
    if executable.is_relative_to(here):
        return str(executable.relative_to(here))
    if shutil.which(executable.name) == str(executable):
        return executable.name
    return str(executable)


class Command(BaseCommand):
    help = (
        "Create the demo live blog and its first posts (does nothing if it exists already), "
        "and say how to sign in to the admin."
    )

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
        self.explain_sign_in()

    def explain_sign_in(self) -> None:
        """Where posts are written, and the one command that makes an account when there is none."""
        admin_url = reverse("admin:index")
        if get_user_model().objects.filter(is_staff=True, is_active=True).exists():
            self.stdout.write(f"Write posts in the admin, {admin_url}, signed in with your staff account.")
            return
        self.stdout.write(
            f"Posts are written in the admin, {admin_url}, and nobody can sign in to it yet. Create an account "
            f"(it asks for a name and a password):\n    {python_command()} manage.py createsuperuser"
        )
