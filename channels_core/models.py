"""Tables of the database backend (:mod:`channels_core.backends.database`)."""

from __future__ import annotations

from django.db import models

__all__ = ["GroupHistory", "GroupHistoryEntry", "GroupMember", "PresenceMember", "QueuedMessage"]


class QueuedMessage(models.Model):
    """One message waiting in a queue; claiming it deletes the row."""

    id = models.BigAutoField(primary_key=True)
    #: Where it is stored: the channel, or a response channel's inbox.
    queue = models.CharField(max_length=200)
    #: The channel it was sent to; comma-separated members of the inbox for a group send.
    channels = models.TextField()
    payload = models.TextField()
    #: Seconds since the epoch after which it is never delivered.
    expires = models.FloatField()

    class Meta:
        indexes = [
            models.Index(fields=["queue", "id"], name="channels_queue_order"),
            models.Index(fields=["queue", "expires"], name="channels_queue_expires"),
            models.Index(fields=["expires"], name="channels_expires"),
        ]

    def __str__(self) -> str:
        return f"message {self.id} in {self.queue}"


class GroupMember(models.Model):
    """A channel's membership of a group, until ``expires``."""

    group = models.CharField(max_length=200)
    channel = models.CharField(max_length=200)
    expires = models.FloatField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "channel"], name="channels_unique_member")]
        indexes = [models.Index(fields=["group", "expires"], name="channels_group_expires")]

    def __str__(self) -> str:
        return f"{self.channel} in {self.group}"


class GroupHistory(models.Model):
    """A group's history (``GROUP_HISTORY``): its epoch and latest offset, until ``expires``.

    Its row is the group's lock: a send with history and an add with
    ``since`` lock it, so each sees the other whole or not at all.
    """

    group = models.CharField(max_length=200, unique=True)
    epoch = models.CharField(max_length=32)
    #: The offset of the group's latest message (0: none yet).
    offset = models.BigIntegerField()
    #: Seconds since the epoch after which the history is gone.
    expires = models.FloatField()

    class Meta:
        indexes = [models.Index(fields=["expires"], name="channels_history_expires")]

    def __str__(self) -> str:
        return f"history of {self.group} at {self.epoch}:{self.offset}"


class GroupHistoryEntry(models.Model):
    """One message a group's history keeps, with its position already in ``payload``."""

    id = models.BigAutoField(primary_key=True)
    group = models.CharField(max_length=200)
    offset = models.BigIntegerField()
    payload = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "offset"], name="channels_unique_history_offset")]

    def __str__(self) -> str:
        return f"message {self.offset} of {self.group}"


class PresenceMember(models.Model):
    """One socket of a named person in a presence set, until ``expires`` (see :mod:`channels_core.presence`)."""

    presence = models.CharField(max_length=200)
    channel = models.CharField(max_length=200)
    name = models.CharField(max_length=150)
    expires = models.FloatField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["presence", "channel"], name="channels_unique_presence")]
        indexes = [models.Index(fields=["presence", "expires"], name="channels_presence_expires")]

    def __str__(self) -> str:
        return f"{self.name} ({self.channel}) in {self.presence}"
