"""Who is here now: the people behind a set of sockets, kept right through crashes.

A chat room wants to show its members' *names*, not its sockets: one person
may have several tabs open, on several interface servers. :class:`Presence`
records each socket with the name of the person behind it, and answers with
names; a name joins with its first socket and leaves with its last.

Membership expires like a group's (``GROUP_EXPIRY``), and for the same
reason: an interface server that dies sends no disconnects. Refresh each
socket on ``django.websocket.keepalive`` (as for a group) and call
:meth:`Presence.sweep` there too: it removes sockets that stopped being
refreshed and tells you which names have gone, so you can announce them.
A dead server's people are therefore gone within ``GROUP_EXPIRY`` plus one
keepalive interval of another socket in the same presence set.

It is kept in the database (``PresenceMember``), which every deployment has,
so it works the same on every channel backend and across processes::

    here = Presence("chat-lobby")
    if here.join(send_channel, "ada"):       # True: ada's first socket
        Group("chat-lobby").send(type="join", name="ada", names=here.names())
"""

from __future__ import annotations

import time

from django.db import IntegrityError, models, transaction

from .backends import get_backend
from .context import current_alias
from .models import PresenceMember
from .names import validate_channel_name, validate_group_name

__all__ = ["Presence"]


class Presence:
    """The named members of one presence set (e.g. one chat room).

    Args:
        name: the set's name (group-name rules).
        alias: the ``CHANNEL_BACKENDS`` entry whose ``GROUP_EXPIRY`` applies; by
            default that of the message being handled (as for ``Group``).
    """

    def __init__(self, name: str, alias: str | None = None) -> None:
        self.name = validate_group_name(name)
        self.alias = current_alias() if alias is None else alias

    def __repr__(self) -> str:
        return f"Presence({self.name!r})"

    def _members(self) -> models.QuerySet[PresenceMember]:
        return PresenceMember.objects.filter(presence=self.name)

    def _expires(self) -> float:
        return time.time() + get_backend(self.alias).group_expiry

    def join(self, channel: str, name: str) -> bool:
        """Record ``channel`` as one of ``name``'s sockets; ``True`` if ``name`` was not here before."""
        validate_channel_name(channel)
        with transaction.atomic():
            was_here = self._live().filter(name=name).exists()
            updated = self._members().filter(channel=channel).update(name=name, expires=self._expires())
            if not updated:
                try:
                    with transaction.atomic():
                        PresenceMember.objects.create(
                            presence=self.name, channel=channel, name=name, expires=self._expires()
                        )
                except IntegrityError:  # the same socket joined twice at once
                    pass
        return not was_here

    def refresh(self, channel: str) -> bool:
        """Keep ``channel`` here for another ``GROUP_EXPIRY``; ``False`` if it had already dropped out."""
        return bool(self._members().filter(channel=channel, expires__gt=time.time()).update(expires=self._expires()))

    def leave(self, channel: str) -> str | None:
        """Remove ``channel``; returns the name that left with it, if it was that name's last socket."""
        with transaction.atomic():
            member = self._members().filter(channel=channel).first()
            if member is None:
                return None
            member.delete()
            still_here = self._live().filter(name=member.name).exists()
        return None if still_here else member.name

    def sweep(self) -> list[str]:
        """Remove sockets that were not refreshed in time; returns the names that left with them."""
        now = time.time()
        with transaction.atomic():
            expired = list(self._members().filter(expires__lte=now).values_list("name", flat=True).distinct())
            if not expired:
                return []
            self._members().filter(expires__lte=now).delete()
            staying = set(self._live().filter(name__in=expired).values_list("name", flat=True))
        return sorted(set(expired) - staying)

    def names(self) -> list[str]:
        """The names here now, sorted, each once however many sockets it has."""
        return sorted(set(self._live().values_list("name", flat=True)))

    def _live(self) -> models.QuerySet[PresenceMember]:
        return self._members().filter(expires__gt=time.time())
