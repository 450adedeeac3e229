"""The peer's ASGI application: Django for HTTP, Channels consumers for WebSockets.

As Channels' documentation sets it up: Django's ASGI application is built first
(it sets Django up), then the router; WebSockets go through
``AllowedHostsOriginValidator`` (our server checks ``Origin`` against
``ALLOWED_HOSTS`` too). No ``AuthMiddlewareStack``: neither side's consumers
use the session here.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peer_asgi.settings")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from .consumers import BroadcastConsumer, EchoConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            URLRouter(
                [
                    path("echo/", EchoConsumer.as_asgi()),
                    path("bcast/", BroadcastConsumer.as_asgi()),
                ]
            )
        ),
    }
)
