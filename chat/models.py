"""Chat rooms and the messages said in them."""

from django.db import models
from django.urls import reverse

from channels_core import Group
from channels_core.presence import Presence

#: Messages a room page shows when it opens (and catches up with after a reconnect).
HISTORY = 50
#: The longest message, in characters.
MAX_LENGTH = 2000


class Room(models.Model):
    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=200)
    staff_only = models.BooleanField(default=False, help_text="Only staff users may join.")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("chat:room", args=[self.slug])

    @property
    def group(self) -> Group:
        """Every socket open on this room: messages and notices are sent here."""
        return Group(f"chat-{self.slug}")

    @property
    def presence(self) -> Presence:
        """The names of the people in the room now (one per person, however many tabs)."""
        return Presence(f"chat-{self.slug}")

    def history(self) -> list["Message"]:
        """The last messages, oldest first."""
        return list(reversed(self.messages.order_by("-created", "-id")[:HISTORY]))

    def send_notification(self, **message: object) -> None:
        """Send one message to everybody in the room: the only place the chat broadcasts from."""
        self.group.send(message)


class Message(models.Model):
    room = models.ForeignKey(Room, related_name="messages", on_delete=models.CASCADE)
    author = models.CharField(max_length=150)
    text = models.TextField(max_length=MAX_LENGTH)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created", "id"]

    def __str__(self) -> str:
        return f"{self.author}: {self.text[:40]}"

    def as_message(self) -> dict[str, object]:
        """Plain data for the page, which shows the text with textContent (never as HTML)."""
        return {"id": self.pk, "author": self.author, "text": self.text, "created": self.created.isoformat()}
