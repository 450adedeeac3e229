"""What happens on a reader's socket: join the blog's group, stay in it, leave it.

A reader's page opens a socket to ``/liveblog/<slug>/stream/``. These
consumers only manage group membership; the posts themselves are sent by the
signal handlers in ``signals.py``, through the group, which keeps a history
(``GROUP_HISTORY`` in the settings): a page that comes back gets what it missed.
"""

from channels_core import Channel
from channels_core.decorators import consumer
from channels_core.recovery import join_with_recovery

from .models import Liveblog

STREAM = r"^/liveblog/(?P<slug>[-\w]+)/stream/$"

#: Close code for a blog that does not exist (4000-4999 are for applications;
#: the browser client does not reconnect after them).
UNKNOWN_BLOG = 4004


@consumer("django.websocket.connect", path=STREAM)
def join_readers(send_channel, slug, query_string="", **kwargs):
    """Add the socket to the blog's readers, with what its page missed first.

    The page sends the position of the last post message it has (the one its
    HTML was rendered at, at first): every message sent to the group since is
    put on the socket, in order, and a "recovery" frame tells the page whether
    that was all of them. If not (the history was lost, or the page was away
    too long), the page fetches the whole list.
    """
    try:
        liveblog = Liveblog.objects.get(slug=slug)
    except Liveblog.DoesNotExist:
        # The page shows the error; "close" makes the server close the socket after sending it.
        Channel(send_channel).send(type="error", error=f"There is no live blog called {slug!r}.", close=UNKNOWN_BLOG)
        return
    join_with_recovery(send_channel, [liveblog.group], query_string)
    # Everything saved from here on arrives through the group.
    Channel(send_channel).send(type="joined")


@consumer("django.websocket.keepalive", path=STREAM)
def stay_with_readers(send_channel, slug, **kwargs):
    """Refresh the socket's membership, with a plain add: a keepalive never replays anything.

    Group members expire unless they are added again, so a socket whose
    interface server died without saying so drops out on its own. The
    interface server sends a keepalive for every open socket well before the
    group expiry.
    """
    liveblog = Liveblog.objects.filter(slug=slug).first()
    if liveblog is not None:
        liveblog.group.add(send_channel)


@consumer("django.websocket.disconnect", path=STREAM)
def leave_readers(send_channel, slug, **kwargs):
    """Stop sending to a closed socket (expiry would drop it too, but later)."""
    liveblog = Liveblog.objects.filter(slug=slug).first()
    if liveblog is not None:
        liveblog.group.discard(send_channel)
