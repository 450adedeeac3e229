"""A backend's settings that vary by queue: capacity and expiry by name or glob, and the group expiry.

One ``CHANNEL_BACKENDS`` entry says, for example::

    "CAPACITY": 100, "CHANNEL_CAPACITY": {"django.wsgi.request": 1000, "!*": 1000},
    "EXPIRY": 60, "CHANNEL_EXPIRY": {"django.wsgi.request": 10},
    "GROUP_EXPIRY": 120,
    "GROUP_HISTORY": {"liveblog-*": 100}, "GROUP_HISTORY_EXPIRY": 86400,

and :class:`ByQueue` answers for any queue name, exact names first, then
globs in the order written, then the default.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, Generic, TypeVar

from .. import defaults

__all__ = ["ByQueue", "capacities_of", "expiries_of", "group_expiry_of", "history_expiry_of", "history_sizes_of"]

T = TypeVar("T")


class ByQueue(Generic[T]):
    """A setting per queue: an exact name, else the first glob that matches (in the order written), else the default.

    Args:
        default: the value for queues no rule names.
        rules: queue names or ``fnmatch`` globs, and their values.
    """

    def __init__(self, default: T, rules: Mapping[str, T]) -> None:
        self.default: T = default
        self._exact: dict[str, T] = {name: value for name, value in rules.items() if not _is_glob(name)}
        self._globs: list[tuple[str, T]] = [(glob, value) for glob, value in rules.items() if _is_glob(glob)]
        self.look_up: Callable[[str], T] = lru_cache(maxsize=4096)(self._look_up)

    def _look_up(self, queue: str) -> T:
        if queue in self._exact:
            return self._exact[queue]
        for pattern, value in self._globs:
            if fnmatch.fnmatchcase(queue, pattern):
                return value
        return self.default

    @property
    def rules(self) -> list[tuple[str, T]]:
        """Every rule in look-up order (exact names first); an exact name is a glob matching only itself."""
        return list(self._exact.items()) + list(self._globs)


def capacities_of(config: Mapping[str, Any]) -> ByQueue[int]:
    """The capacity of each queue under one ``CHANNEL_BACKENDS`` entry (``CAPACITY``, ``CHANNEL_CAPACITY``)."""
    rules = config.get("CHANNEL_CAPACITY", {})
    return ByQueue(int(config.get("CAPACITY", defaults.CAPACITY)), {name: int(value) for name, value in rules.items()})


def expiries_of(config: Mapping[str, Any]) -> ByQueue[float]:
    """The expiry in seconds of each queue's messages under one entry (``EXPIRY``, ``CHANNEL_EXPIRY``)."""
    rules = config.get("CHANNEL_EXPIRY", {})
    return ByQueue(float(config.get("EXPIRY", defaults.EXPIRY)), {name: float(value) for name, value in rules.items()})


def group_expiry_of(config: Mapping[str, Any]) -> float:
    """Seconds a group member stays without being re-added under one entry (``GROUP_EXPIRY``)."""
    return float(config.get("GROUP_EXPIRY", defaults.GROUP_EXPIRY))


def history_sizes_of(config: Mapping[str, Any]) -> ByQueue[int]:
    """How many messages each group keeps in its history under one entry (``GROUP_HISTORY``); 0: no history.

    Groups are looked up by name as queues are: exact names first, then globs.
    """
    rules = config.get("GROUP_HISTORY", {})
    sizes = {name: int(size) for name, size in rules.items()}
    for name, size in sizes.items():
        if size < 1:
            raise ValueError(f"GROUP_HISTORY[{name!r}] is {size}: a group's history keeps at least one message")
    return ByQueue(0, sizes)


def history_expiry_of(config: Mapping[str, Any]) -> float:
    """Seconds a group's history lasts after its last send or position under one entry (``GROUP_HISTORY_EXPIRY``)."""
    return float(config.get("GROUP_HISTORY_EXPIRY", defaults.GROUP_HISTORY_EXPIRY))


def _is_glob(name: str) -> bool:
    return any(c in name for c in "*?[")
