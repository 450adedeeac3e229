"""Which consumer runs for a message: collecting bindings and dispatching.

Dispatch rules: for a message on a channel, the first consumer whose ``path``
pattern matches the message's ``path`` runs, in the order the consumers are
defined (apps in ``INSTALLED_APPS`` order, then each ``consumers.py`` top to
bottom); a consumer without a pattern matches everything and is tried last. Two bindings that could claim the same
message (same channel, and the same pattern or both without one) are a
:exc:`~channels_core.exceptions.ConsumerConflict` when the registry is built.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Sequence
from importlib import import_module
from typing import Any

from django.apps import apps
from django.utils.module_loading import module_has_submodule

from .decorators import BINDINGS_ATTRIBUTE, Binding
from .exceptions import ConsumerConflict

__all__ = ["CONSUMERS_MODULE", "Registry", "discover_consumers", "registry_from_apps"]

#: The module each app keeps its consumers in.
CONSUMERS_MODULE = "consumers"


class Registry:
    """The bindings a worker serves, by channel.

    Args:
        functions: decorated consumer functions (each may carry several bindings).
    """

    def __init__(self, functions: Iterable[Callable[..., Any]]) -> None:
        self._by_channel: dict[str, list[Binding]] = {}
        seen: set[int] = set()
        for function in functions:
            if id(function) in seen:  # one function imported by two modules
                continue
            seen.add(id(function))
            for binding in getattr(function, BINDINGS_ATTRIBUTE, []):
                # Call what the module exposes: if another decorator wrapped the
                # consumer (copying its bindings with functools.wraps), the
                # wrapper must run, not the function underneath it.
                self._add(Binding(binding.channel, binding.path, function))
        for bindings in self._by_channel.values():
            # Patterned bindings first (in definition order); the catch-all last.
            bindings.sort(key=lambda b: b.path is None)

    def _add(self, new: Binding) -> None:
        bindings = self._by_channel.setdefault(new.channel, [])
        for old in bindings:
            same_pattern = (old.path.pattern if old.path else None) == (new.path.pattern if new.path else None)
            if same_pattern:
                claim = f"path {new.path.pattern!r}" if new.path else "every message (no path pattern)"
                raise ConsumerConflict(
                    f"consumers {old.name} and {new.name} both claim {claim} on channel {new.channel!r}; "
                    "give one of them a different path pattern or remove it"
                )
        bindings.append(new)

    @property
    def channels(self) -> list[str]:
        """Every channel that has at least one consumer, sorted."""
        return sorted(self._by_channel)

    def bindings(self, channel: str) -> list[Binding]:
        return list(self._by_channel.get(channel, []))

    def match(self, channel: str, message: dict[str, Any]) -> tuple[Binding, dict[str, str]] | None:
        """The binding that runs for ``message`` on ``channel``, with its extra keyword arguments."""
        for binding in self._by_channel.get(channel, []):
            extra = binding.match(message)
            if extra is not None:
                return binding, extra
        return None

    def select(self, only: Sequence[str] = (), exclude: Sequence[str] = ()) -> list[str]:
        """The channels to listen on: those matching any ``only`` glob (all if none), minus ``exclude`` globs."""

        def matches(channel: str, globs: Sequence[str]) -> bool:
            return any(fnmatch.fnmatchcase(channel, glob) for glob in globs)

        return [c for c in self.channels if (not only or matches(c, only)) and not matches(c, exclude)]


def discover_consumers() -> list[Callable[..., Any]]:
    """Import each installed app's ``consumers`` module and return its consumer functions."""
    functions: list[Callable[..., Any]] = []
    for app in apps.get_app_configs():
        if not module_has_submodule(app.module, CONSUMERS_MODULE):
            continue
        module = import_module(f"{app.name}.{CONSUMERS_MODULE}")
        # A module's namespace keeps the order its names were defined in, which is the
        # order patterned consumers are tried in (inspect.getmembers would sort them by name).
        for member in vars(module).values():
            if callable(member) and getattr(member, BINDINGS_ATTRIBUTE, None):
                functions.append(member)
    return functions


def registry_from_apps() -> Registry:
    """The registry of every consumer in the installed apps."""
    return Registry(discover_consumers())
