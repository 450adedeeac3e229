"""Channel names as metric labels: a bounded set, so a busy site cannot grow its series without end.

Prometheus keeps one series per label value, so a label must never carry an
id. Three rules turn a channel name into a label:

* a response channel is labelled by its kind, the prefix every such channel
  of the site shares (``!django.wsgi.response``, ``!django.websocket.send``);
  one the site did not name in advance is ``!other``;
* a normal channel made fresh for one request (its body, its start ticket)
  is labelled by its prefix too (``django.wsgi.body``, ``django.wsgi.start``);
* any other normal channel is labelled by its name, up to a number of
  distinct names (:data:`DEFAULT_CAP`); past that, new names share ``other``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from ..protocol import BODY_CHANNEL_PREFIX, RESPONSE_INBOX_PREFIX, START_CHANNEL_PREFIX, WEBSOCKET_REPLY_PREFIX

__all__ = ["DEFAULT_CAP", "FRESH_PREFIXES", "OTHER", "OTHER_RESPONSE", "BoundedLabels"]

#: Distinct names labelled as themselves before new ones share :data:`OTHER`.
DEFAULT_CAP = 100
#: The label of the names past the cap.
OTHER = "other"
#: The label of response channels of no known kind.
OTHER_RESPONSE = "!other"
#: Prefixes below which every channel is made fresh, with an id: labelled by the prefix.
FRESH_PREFIXES = (RESPONSE_INBOX_PREFIX, WEBSOCKET_REPLY_PREFIX, BODY_CHANNEL_PREFIX, START_CHANNEL_PREFIX)


class BoundedLabels:
    """Turns names into labels, at most ``cap`` of them as they are (thread-safe).

    Args:
        cap: how many distinct names keep their own label; the first ones seen win.
        prefixes: names below one of these are labelled by it (see the module docstring).
    """

    def __init__(self, cap: int = DEFAULT_CAP, prefixes: Iterable[str] = FRESH_PREFIXES) -> None:
        self.cap = cap
        self._prefixes = tuple(f"{prefix}." for prefix in prefixes)
        self._known: dict[str, str] = {}
        self._own = 0  # how many names are labelled as themselves
        self._lock = threading.Lock()

    def __call__(self, name: str) -> str:
        """The label of ``name``."""
        label = self._known.get(name)  # the usual case, without the lock
        if label is not None:
            return label
        with self._lock:
            label = self._known.get(name)
            if label is None:
                label = self._first_label(name)
                # Every name labelled as itself is remembered (at most ``cap``); the others up to a bound,
                # since fresh names come without end (past it, their label is worked out each time).
                if label == name or len(self._known) < 16 * self.cap:
                    self._known[name] = label
            return label

    def _first_label(self, name: str) -> str:
        for prefix in self._prefixes:
            if name.startswith(prefix):
                return prefix[:-1]
        if name.startswith("!"):
            return OTHER_RESPONSE
        if self._own >= self.cap:
            return OTHER
        self._own += 1
        return name
