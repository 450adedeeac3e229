"""What happens on a reader's socket: join the blog's group, stay in it, leave it.

A reader's page opens a socket to ``/liveblog/<slug>/stream/``. These
consumers only manage group membership; the posts themselves are sent by the
signal handlers in ``signals.py``, through the group.
"""

from channels_core import Channel
from channels_core.context import current_message
from channels_core.decorators import consumer

from .models import Liveblog

STREAM = r"^/liveblog/(?P<slug>[-\w]+)/stream/$"

#: Close code for a blog that does not exist (4000-4999 are for applications;
#: the browser client does not reconnect after them).
UNKNOWN_BLOG = 4004


@consumer("django.websocket.connect", path=STREAM)
@consumer("django.websocket.keepalive", path=STREAM)
def join_readers(send_channel, slug, **kwargs):
    """Add the socket to the blog's readers, or refresh its membership.

    The same consumer serves connect and keepalive: group members expire
    unless they are added again, so a socket whose interface server died
    without saying so drops out on its own. The interface server sends a
    keepalive for every open socket well before the group expiry.
    """
    try:
        liveblog = Liveblog.objects.get(slug=slug)
    except Liveblog.DoesNotExist:
        # The page shows the error; "close" makes the server close the socket after sending it.
        Channel(send_channel).send(type="error", error=f"There is no live blog called {slug!r}.", close=UNKNOWN_BLOG)
        return
    liveblog.group.add(send_channel)
    if current_message().channel == "django.websocket.connect":  # not a keepalive
        # Posts saved before this moment never reached this socket, and delivery
        # is at most once anyway: "joined" tells the page to fetch the current
        # posts now. Everything saved from here on arrives through the group.
        Channel(send_channel).send(type="joined")


@consumer("django.websocket.disconnect", path=STREAM)
def leave_readers(send_channel, slug, **kwargs):
    """Stop sending to a closed socket (expiry would drop it too, but later)."""
    liveblog = Liveblog.objects.filter(slug=slug).first()
    if liveblog is not None:
        liveblog.group.discard(send_channel)
