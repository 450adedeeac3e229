"""Where pages open their WebSockets: one function, a context processor and a template tag use it.

Two settings decide the address, so the same templates work under ``runserver``
and behind a proxy:

``CHANNELS_WS_URL`` (default ``""``)
    * an absolute URL, ``wss://example.com/ws/``: used as it is;
    * a path prefix, ``/ws/``: same origin (e.g. nginx routes upgrades under
      ``/ws/``). It stays a path: the browser client resolves it against the
      page, choosing ``wss`` on ``https`` pages, which is right even behind a
      TLS-terminating proxy that Django cannot see;
    * ``""``: not configured.

``CHANNELS_WS_PORT`` (default ``None``)
    Set by the all-in-one ``runserver``, which serves WebSockets on another
    port of the same host. When ``CHANNELS_WS_URL`` is empty the base is
    ``ws://<host name of the request>:<port>/``. The request's host name is kept
    (``localhost`` stays ``localhost``) because cookies are per host name: the
    session cookie for ``localhost`` is not sent to ``127.0.0.1``.

With neither, the base is the page's own origin, ``ws(s)://<host[:port]>/``,
which works behind any proxy that routes upgrades to the WebSocket server.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.http.request import split_domain_port

__all__ = ["websocket", "websocket_base_url", "websocket_url"]

_ABSOLUTE_SCHEMES = ("ws://", "wss://")


def websocket_base_url(request: HttpRequest) -> str:
    """The base WebSocket address for pages served to ``request``, ending with ``/``.

    Args:
        request: The request whose page will connect; its host and scheme are
            used unless ``CHANNELS_WS_URL`` is an absolute URL.

    Returns:
        An absolute ``ws://``/``wss://`` URL, or a path such as ``/ws/`` when
        ``CHANNELS_WS_URL`` is a path prefix.

    Raises:
        ImproperlyConfigured: ``CHANNELS_WS_URL`` or ``CHANNELS_WS_PORT`` has a
            value of the wrong form.
    """
    configured = _configured_url()
    if configured:
        return configured if configured.endswith("/") else f"{configured}/"
    scheme = "wss" if request.is_secure() else "ws"
    port = _configured_port()
    if port is not None:
        host_name, _ = split_domain_port(request.get_host())
        return f"{scheme}://{host_name}:{port}/"
    return f"{scheme}://{request.get_host()}/"


def websocket_url(request: HttpRequest, path: str = "") -> str:
    """The WebSocket address of ``path`` for pages served to ``request``.

    Args:
        request: The request whose page will connect.
        path: The socket's path below the base, e.g. ``"liveblog/x/stream/"``;
            leading slashes are ignored, so ``"/chat/"`` and ``"chat/"`` agree.

    Returns:
        The base (see :func:`websocket_base_url`) and ``path`` joined with one
        slash, e.g. ``ws://localhost:8001/liveblog/x/stream/``.
    """
    return websocket_base_url(request) + path.lstrip("/")


def websocket(request: HttpRequest) -> dict[str, str]:
    """Context processor: ``CHANNELS_WS_BASE_URL`` for every template rendered with ``request``."""
    return {"CHANNELS_WS_BASE_URL": websocket_base_url(request)}


def _configured_url() -> str:
    value = getattr(settings, "CHANNELS_WS_URL", "") or ""
    if not isinstance(value, str):
        raise ImproperlyConfigured(f"CHANNELS_WS_URL is {value!r}; it must be a string")
    if value and not (value.startswith("/") or value.lower().startswith(_ABSOLUTE_SCHEMES)):
        raise ImproperlyConfigured(
            f"CHANNELS_WS_URL is {value!r}; use a ws:// or wss:// URL, a path starting with '/', or ''"
        )
    return value


def _configured_port() -> int | None:
    value = getattr(settings, "CHANNELS_WS_PORT", None)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ImproperlyConfigured(f"CHANNELS_WS_PORT is {value!r}; it must be a port number (1-65535) or None")
    return value
