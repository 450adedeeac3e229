"""A chat room's sockets: who you are, what you say, who else is here.

Each consumer gets the Django session and user from the connect request's
cookie (``@http_session_user``) and keeps per-socket state in a channel
session (``@channel_session``): the room and the name.

One socket's messages are handled one at a time, in order, however many
workers run: ``say`` never runs before ``enter`` has finished (so the room and
the name are in the channel session), a fast typist's messages are stored in
the order they were typed, and ``leave`` comes last. Different sockets are
handled at the same time, though, which is why ``say`` still locks the room.
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from channels_core import Channel
from channels_core.decorators import consumer
from channels_core.recovery import join_with_recovery
from channels_core.sessions import channel_session, http_session_user

from .models import Message, Room
from .protocol import RATE_SECONDS, check_rate, parse, replying_to_errors

ROOM = r"^/chat/(?P<slug>[-\w]+)/stream/$"

#: Close codes (4000-4999 are the application's; the page shows why and does not reconnect).
NO_NAME = 4001
STAFF_ONLY = 4003
UNKNOWN_ROOM = 4004


def refuse(send_channel: str, code: int, error: str) -> None:
    """Tell the page why, then close: one message, sent before the close."""
    Channel(send_channel).send(type="error", code=str(code), error=error, close=code)


@consumer("django.websocket.connect", path=ROOM)
@channel_session
@http_session_user
def enter(send_channel, slug, user, session, channel_session, query_string="", **kwargs):
    room = Room.objects.filter(slug=slug).first()
    if room is None:
        return refuse(send_channel, UNKNOWN_ROOM, f"There is no room called {slug!r}.")
    if room.staff_only and not user.is_staff:
        return refuse(send_channel, STAFF_ONLY, "This room is for staff only. Sign in as a staff user to join.")
    # A signed-in user chats under their username; a visitor under the nickname
    # they chose on the room page (kept in their Django session).
    name = user.get_username() if user.is_authenticated else session.get("nickname")
    if not name:
        return refuse(send_channel, NO_NAME, "Choose a nickname first.")
    # Saved when this consumer returns, before the socket's first message is handled.
    channel_session.update({"room": slug, "name": name})
    # What was said since the page's position (rendered with it, or the last
    # message its socket had) is replayed first; a "recovery" frame then tells
    # the page whether that was everything, or whether it must fetch the history.
    join_with_recovery(send_channel, [room.group], query_string)
    first_tab = room.presence.join(send_channel, name)
    names = room.presence.names()
    Channel(send_channel).send(type="welcome", name=name, names=names)
    if first_tab:
        room.send_notification(type="join", name=name, names=names)


@consumer("django.websocket.keepalive", path=ROOM)
@channel_session
def stay(send_channel, channel_session, **kwargs):
    """Keep the socket in the room's group and presence; announce people whose server died.

    A plain add: a keepalive refreshes membership and never replays anything.
    """
    room = Room.objects.filter(slug=channel_session.get("room")).first()
    if room is None:
        return
    room.group.add(send_channel)
    if not room.presence.refresh(send_channel):  # it had expired: back in, quietly
        room.presence.join(send_channel, channel_session["name"])
    for name in room.presence.sweep():
        room.send_notification(type="leave", name=name, names=room.presence.names())


@consumer("django.websocket.receive", path=ROOM)
@channel_session
@replying_to_errors
def say(send_channel, text=None, channel_session=None, **kwargs):
    slug, name = channel_session.get("room"), channel_session.get("name")
    if slug is None:  # not in a room: the socket was refused at connect
        return
    said = parse(text)
    # The room's row stays locked until the message is stored: messages of one
    # room are said one at a time. One socket's messages come one at a time
    # anyway, but a person may have several tabs open: without the lock,
    # messages from two tabs handled at once would each count the same recent
    # messages and both pass the flood check.
    #
    # The message is sent once stored for good (on commit), as the live blog's
    # posts are: nobody hears of a message that is then rolled back, and a room
    # page, which reads the history after taking the group's position
    # (views.room), either shows a message or gets it replayed by its socket.
    # Two messages committed at nearly the same moment may be sent in either
    # order; pages place messages by id.
    with transaction.atomic():
        room = Room.objects.select_for_update().filter(slug=slug).first()
        if room is None:
            return
        lately = timezone.now() - timedelta(seconds=RATE_SECONDS)
        check_rate(room.messages.filter(author=name, created__gt=lately).count())
        message = Message.objects.create(room=room, author=name, text=said).as_message()
        transaction.on_commit(lambda: room.send_notification(type="message", message=message))


@consumer("django.websocket.disconnect", path=ROOM)
@channel_session
def leave(send_channel, channel_session, **kwargs):
    room = Room.objects.filter(slug=channel_session.get("room")).first()
    if room is None:
        return
    room.group.discard(send_channel)
    gone = room.presence.leave(send_channel)
    if gone:
        room.send_notification(type="leave", name=gone, names=room.presence.names())
