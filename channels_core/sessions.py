r"""Sessions for WebSocket consumers: the browser's HTTP session, its user, and per-socket state.

A consumer gets one message and no request, so the decorators here build what a
view would find on ``request``:

* :func:`http_session` passes ``session``: the Django session named by the
  ``cookie`` header of ``django.websocket.connect`` (an empty one without it).
* :func:`http_session_user` also passes ``user``: that session's user, or an
  :class:`~django.contrib.auth.models.AnonymousUser`.
* :func:`channel_session` passes ``channel_session``: a session of its own for
  each socket, kept in the session store under a key derived from the
  message's ``send_channel``, so every message of one socket finds it, whichever
  worker process runs it. It is saved after the consumer returns or raises
  (only if modified) and deleted on ``django.websocket.disconnect``.

A channel session expires ``CHANNELS_SESSION_AGE`` seconds (default 3600)
after it was last written, not after Django's ``SESSION_COOKIE_AGE``; see
:func:`channel_session` for how it is kept alive while its socket lives, and
swept when its disconnect never came.

Only connect carries headers. Under :func:`channel_session`, the HTTP
decorators remember the session key at connect, so ``receive``, ``keepalive``
and ``disconnect`` get the same ``session`` and ``user``; without it they get an
empty session and an anonymous user.

Usage (``@consumer`` may sit above or below the others; ``@channel_session``
must sit above ``@http_session``/``@http_session_user``)::

    @consumer("django.websocket.connect", path=r"^/chat/(?P<room>\w+)/$")
    @channel_session
    @http_session_user
    def chat_connect(send_channel, room, session, channel_session, user, **kwargs):
        channel_session["room"] = room
        Group(f"chat-{room}").add(send_channel)

    @consumer("django.websocket.receive", path=r"^/chat/(?P<room>\w+)/$")
    @channel_session
    @http_session_user
    def chat_receive(text, channel_session, user, **kwargs):
        Group(f"chat-{channel_session['room']}").send(user=user.get_username(), text=text)
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from importlib import import_module
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.sessions.backends import signed_cookies
from django.contrib.sessions.backends.base import CreateError, SessionBase, UpdateError
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.http.cookie import parse_cookie
from django.utils.crypto import salted_hmac

from .conf import session_age
from .context import current_message
from .protocol import WEBSOCKET_DISCONNECT

__all__ = [
    "HTTP_SESSION_KEY_FIELD",
    "channel_session",
    "channel_session_key",
    "http_session",
    "http_session_user",
    "save_channel_session",
]

logger = logging.getLogger("channels_core.sessions")

R = TypeVar("R")

#: Where a channel session remembers the socket's HTTP session key.
HTTP_SESSION_KEY_FIELD = "_http_session_key"
#: Starts every channel session key, so they are easy to tell from HTTP sessions in the store.
CHANNEL_SESSION_KEY_PREFIX = "chn"
#: Django's own session keys are 32 characters; ours match, to fit every backend's column.
CHANNEL_SESSION_KEY_LENGTH = 32
_KEY_SALT = "channels_core.sessions.channel_session"
#: Where a channel session records when it was last written (``time.time()``), to refresh it once per half-age.
_WRITTEN_AT_FIELD = "_channel_session_written_at"
#: Marks a function already wrapped by ``@channel_session`` (``functools.wraps`` copies it upwards).
_WRAPPED_BY_CHANNEL_SESSION = "_channels_core_channel_session"


def _clock() -> float:
    """The time the expiry bookkeeping reads (a function of its own, for tests)."""
    return time.time()


def channel_session_key(send_channel: str) -> str:
    """The session key of the socket whose messages carry ``send_channel``.

    Derived rather than stored, so connect, receive and disconnect find the same
    session from the message alone. It is an HMAC keyed by ``SECRET_KEY``, not a
    plain hash: channel sessions share the store with HTTP sessions, where a key
    is what a browser presents as its cookie, and send_channel names are not
    secret (they sit in group memberships and logs).
    """
    digest = salted_hmac(_KEY_SALT, send_channel, algorithm="sha256").hexdigest()
    return CHANNEL_SESSION_KEY_PREFIX + digest[: CHANNEL_SESSION_KEY_LENGTH - len(CHANNEL_SESSION_KEY_PREFIX)]


def _loaded_store(session_key: str | None) -> SessionBase:
    store: SessionBase = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    # Loading is lazy, and a backend drops a key it cannot find only when it loads:
    # load now, so session_key tells whether the session exists.
    store.keys()
    return store


def _call(function: Callable[..., R], message: Mapping[str, Any], **added: Any) -> R:
    clash = sorted(message.keys() & added.keys())
    if clash:
        raise TypeError(
            f"{function.__qualname__} got {', '.join(clash)} from the message (or its path pattern) "
            "and from a session decorator; rename the message key or path group"
        )
    return function(**message, **added)


def _cookie_session_key(headers: Iterable[Iterable[str]]) -> str | None:
    # Browsers send one cookie header; joining tolerates clients that split it.
    cookies = "; ".join(value for name, value in headers if name == "cookie")
    return parse_cookie(cookies).get(settings.SESSION_COOKIE_NAME)


def _http_session_for(message: Mapping[str, Any]) -> SessionBase:
    socket_state = message.get("channel_session")
    if not isinstance(socket_state, SessionBase):
        socket_state = None
    if "headers" not in message:
        # Only connect has the cookie; later messages use the key remembered then.
        return _loaded_store(socket_state.get(HTTP_SESSION_KEY_FIELD) if socket_state is not None else None)
    session = _loaded_store(_cookie_session_key(message["headers"]))
    if socket_state is not None and session.session_key is not None:
        socket_state[HTTP_SESSION_KEY_FIELD] = session.session_key
    return session


def _with_http_session(function: Callable[..., R], with_user: bool) -> Callable[..., R]:
    name = "http_session_user" if with_user else "http_session"
    if getattr(function, _WRAPPED_BY_CHANNEL_SESSION, False):
        # Below @channel_session we could never see the socket's state, so every
        # message after connect would silently lose the user: refuse at import.
        raise TypeError(f"put @channel_session above @{name} on {function.__qualname__}, not below it")

    @functools.wraps(function)
    def wrapper(**message: Any) -> R:
        session = _http_session_for(message)
        added: dict[str, Any] = {"session": session}
        if with_user:
            request = HttpRequest()  # get_user() only reads request.session
            request.session = session
            added["user"] = get_user(request)
        try:
            return _call(function, message, **added)
        finally:
            # A session without a key is one no browser holds: saving it would only make garbage.
            if session.modified and session.session_key is not None:
                session.save()

    return wrapper


def http_session(function: Callable[..., R]) -> Callable[..., R]:
    """Pass the browser's Django session as keyword ``session``; saved after the consumer if modified."""
    return _with_http_session(function, with_user=False)


def http_session_user(function: Callable[..., R]) -> Callable[..., R]:
    """Like :func:`http_session`, and pass that session's user as keyword ``user``."""
    return _with_http_session(function, with_user=True)


def _is_disconnect() -> bool:
    handling = current_message()
    return handling is not None and handling.channel == WEBSOCKET_DISCONNECT


def save_channel_session(state: SessionBase, existed: bool = False) -> None:
    """Store a socket's ``channel_session`` now, not when the consumer returns.

    The socket's own messages wait for the consumer to return (they are
    handled one at a time), so they do not need it; other code that reads the
    state meanwhile (another socket's consumer, a view) might.

    Args:
        state: the ``channel_session`` the consumer was given.
        existed: whether it was stored before (``False`` tries to create it first).
    """
    # Every write sets the expiry anew: the state lives session_age() from now, not SESSION_COOKIE_AGE.
    state.set_expiry(math.ceil(session_age()))
    state[_WRITTEN_AT_FIELD] = _clock()
    if not existed:
        try:
            state.save(must_create=True)
            return
        except CreateError:
            pass  # another message of this socket created it since we loaded: update that one
    # UpdateError: the socket's disconnect deleted it since we loaded; the socket is gone, so is its state.
    with contextlib.suppress(UpdateError):
        state.save()


def channel_session(function: Callable[..., R]) -> Callable[..., R]:
    """Pass per-socket state as keyword ``channel_session``, kept between the messages of one socket.

    The state is saved after the consumer, also when it raises: delivery is at
    most once, so the message will not come back for a retry, and the state
    should record what the consumer did before it failed (e.g. joining a group).
    It is deleted after a consumer of ``django.websocket.disconnect`` (as the
    worker records it in :mod:`channels_core.context`).

    How long state lasts, and how long it can leak when a disconnect never
    comes (a crashed interface server), with ``CHANNELS_SESSION_AGE`` (default
    3600 s):

    * Each write sets the state to expire ``CHANNELS_SESSION_AGE`` seconds
      later. A message of the socket handled under ``@channel_session`` when
      the state was written more than half that ago writes it again, unchanged
      (a refresh): so a socket whose keepalive consumer uses
      ``@channel_session`` keeps its state as long as it is open, at the cost
      of one write per socket per half-age, not one per keepalive. A socket
      silent for longer than the age, whose keepalives are handled without
      ``@channel_session``, starts again from empty state.
    * At most once per ``CHANNELS_SESSION_AGE / 4`` in each process, a call of
      a ``@channel_session`` consumer runs the session store's
      ``clear_expired()`` (as Django's ``clearsessions`` does), which deletes
      every expired session.

    So the state of a socket whose disconnect was lost is gone at most
    ``1.25 * CHANNELS_SESSION_AGE`` after the socket's last message was
    handled (75 minutes by default), while workers handle ``@channel_session``
    messages; ``clearsessions`` removes it too. (Presence entries of such a
    socket go within ``GROUP_EXPIRY`` and a keepalive interval:
    :class:`~channels_core.presence.Presence`.)

    Raises:
        ValueError: the message has no ``send_channel``.
        ImproperlyConfigured: the session engine keeps no server-side state (signed cookies).
    """

    @functools.wraps(function)
    def wrapper(**message: Any) -> R:
        send_channel = message.get("send_channel")
        if not isinstance(send_channel, str):
            raise ValueError(f"@channel_session on {function.__qualname__} needs a message with a send_channel")
        key = channel_session_key(send_channel)
        state = _loaded_store(key)
        if isinstance(state, signed_cookies.SessionStore):
            raise ImproperlyConfigured("@channel_session needs a SESSION_ENGINE that stores sessions on the server")
        existed = state.session_key is not None
        # Keep our key: save() would invent a random one for a session the backend did not find.
        state._session_key = key
        try:
            return _call(function, message, channel_session=state)
        finally:
            if _is_disconnect():
                state.delete()
            elif state.modified or (existed and _due_for_refresh(state)):
                save_channel_session(state, existed)
            _sweeper.sweep_if_due()

    setattr(wrapper, _WRAPPED_BY_CHANNEL_SESSION, True)
    return wrapper


def _due_for_refresh(state: SessionBase) -> bool:
    """Whether stored state was written more than half its age ago (or before it recorded when)."""
    written_at = state.get(_WRITTEN_AT_FIELD)
    if not isinstance(written_at, int | float):
        return True
    return _clock() - written_at >= session_age() / 2


class _Sweeper:
    """Deletes expired sessions at most once per quarter of :func:`session_age` in this process."""

    def __init__(self) -> None:
        self._last = -math.inf
        self._lock = threading.Lock()

    def sweep_if_due(self) -> None:
        if not self._lock.acquire(blocking=False):
            return  # another thread of this process is sweeping
        try:
            now = _clock()
            if now - self._last < session_age() / 4:
                return
            self._last = now
            store: type[SessionBase] = import_module(settings.SESSION_ENGINE).SessionStore
            store.clear_expired()
        except NotImplementedError:
            pass  # a store that expires sessions by itself (the cache)
        except Exception:  # the consumer's message was handled: log it, and try again a quarter-age later
            logger.exception("could not delete expired sessions")
        finally:
            self._lock.release()


_sweeper = _Sweeper()
