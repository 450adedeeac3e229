"""Our side's WebSocket consumers for ``bench/interfaces.py`` (found by ``runworker`` like any app's).

* ``/echo/``: every text frame is sent back to the socket it came from.
* ``/bcast/``: the socket joins group ``bench``; a separate process broadcasts
  with ``Group("bench").send(text=...)`` and each member gets a text frame.
"""

from typing import Any

from channels_core import Channel, Group
from channels_core.decorators import consumer

GROUP = "bench"


@consumer("django.websocket.connect", path=r"^/echo/$")
@consumer("django.websocket.disconnect", path=r"^/echo/$")
def echo_open_close(**kwargs: Any) -> None:
    """Accept (a connect that no consumer claims is answered with a close); nothing to do on disconnect."""


@consumer("django.websocket.receive", path=r"^/echo/$")
def echo(send_channel: str, text: str | None = None, **kwargs: Any) -> None:
    Channel(send_channel).send(text=text)


@consumer("django.websocket.connect", path=r"^/bcast/$")
@consumer("django.websocket.keepalive", path=r"^/bcast/$")
def bcast_join(send_channel: str, **kwargs: Any) -> None:
    Group(GROUP).add(send_channel)


@consumer("django.websocket.disconnect", path=r"^/bcast/$")
def bcast_leave(send_channel: str, **kwargs: Any) -> None:
    Group(GROUP).discard(send_channel)


@consumer("django.websocket.receive", path=r"^/bcast/$")
def bcast_ignore(**kwargs: Any) -> None:
    """Clients of /bcast/ only listen."""
