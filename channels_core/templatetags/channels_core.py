"""Template tags of the channels core.

``{% load channels_core %}`` then, in a page::

    <main data-ws-url="{% websocket_url "liveblog/"|add:blog.slug|add:"/stream/" %}">
"""

from __future__ import annotations

from django import template
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

from channels_core.context_processors import websocket_url as _websocket_url

__all__ = ["register", "websocket_url"]

register = template.Library()


@register.simple_tag(takes_context=True)
def websocket_url(context: template.Context, path: str = "") -> str:
    """The WebSocket address of ``path`` for this page (see :func:`channels_core.context_processors.websocket_url`).

    Needs the request in the context: render with a ``RequestContext`` (as
    ``render()`` does) and ``django.template.context_processors.request``.
    """
    request = context.get("request")
    if not isinstance(request, HttpRequest):
        raise ImproperlyConfigured(
            "{% websocket_url %} needs the request in the template context; add "
            "'django.template.context_processors.request' to the template context processors"
        )
    return _websocket_url(request, str(path))
