"""The wire format's names, defined once: the channels the interface servers and workers talk on.

Every other module imports these; a test (``tests/channels_core/test_protocol.py``)
fails on a ``django.websocket.*`` or ``django.wsgi.*`` name spelled out anywhere
else in ``channels_core`` (docstrings aside). The messages on these channels
are described in ``docs/reference/messages.rst``.
"""

from __future__ import annotations

__all__ = [
    "BODY_CHANNEL_PREFIX",
    "HANDLED_NAME",
    "REQUEST_CHANNEL",
    "RESPONSE_INBOX_PREFIX",
    "START_CHANNEL_PREFIX",
    "WEBSOCKET_CONNECT",
    "WEBSOCKET_DISCONNECT",
    "WEBSOCKET_KEEPALIVE",
    "WEBSOCKET_RECEIVE",
    "WEBSOCKET_REPLY_PREFIX",
]

# HTTP (the WSGI adapter and the request consumer).

#: The channel the WSGI adapter sends requests on, and workers take them from.
REQUEST_CHANNEL = "django.wsgi.request"
#: A request's start ticket waits on a fresh channel below this name (``django.wsgi.start.<id>``).
START_CHANNEL_PREFIX = "django.wsgi.start"
#: The rest of a body beyond its first chunk travels on a fresh channel below this name.
BODY_CHANNEL_PREFIX = "django.wsgi.body"
#: Each WSGI process's response inbox is a fresh name below this one; its requests' channels below that.
RESPONSE_INBOX_PREFIX = "!django.wsgi.response"

# WebSockets (the WebSocket server and the worker).

#: The channels a WebSocket server emits its sockets' messages on.
WEBSOCKET_CONNECT = "django.websocket.connect"
WEBSOCKET_RECEIVE = "django.websocket.receive"
WEBSOCKET_KEEPALIVE = "django.websocket.keepalive"
WEBSOCKET_DISCONNECT = "django.websocket.disconnect"
#: The WebSocket server's sockets have reply channels below ``<this>.<server>``.
WEBSOCKET_REPLY_PREFIX = "!django.websocket.send"
#: Last part of the channel a worker tells a WebSocket server on that some of its messages were handled.
#: Socket ids are 16 characters, so it never names a socket.
HANDLED_NAME = "handled"
