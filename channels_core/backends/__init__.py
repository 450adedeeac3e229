"""Backends by alias, built once per process from ``settings.CHANNEL_BACKENDS``.

``backends["default"]`` returns the same backend object for the life of the
process (the in-memory backend *is* its object, so it must be shared); the
cache is dropped when ``override_settings`` changes ``CHANNEL_BACKENDS``.
Deleting the setting sends no signal, so call :meth:`BackendHandler.reset`
after that.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from .. import defaults
from .base import BaseBackend

__all__ = ["BackendHandler", "BaseBackend", "backend_from_config", "backends", "get_backend"]


def backend_from_config(config: Mapping[str, Any], alias: str = defaults.DEFAULT_ALIAS) -> BaseBackend:
    """Build a backend from one ``CHANNEL_BACKENDS`` entry."""
    path = config.get("BACKEND", defaults.BACKEND)
    try:
        backend_class = import_string(path)
    except ImportError as error:
        raise ImproperlyConfigured(
            f"CHANNEL_BACKENDS[{alias!r}]['BACKEND'] = {path!r} cannot be imported: {error}"
        ) from error
    if not (isinstance(backend_class, type) and issubclass(backend_class, BaseBackend)):
        raise ImproperlyConfigured(f"CHANNEL_BACKENDS[{alias!r}]['BACKEND'] = {path!r} is not a backend class")
    backend: BaseBackend = backend_class(config, alias)
    return backend


class BackendHandler:
    """Lazily builds and caches one backend per alias (process-wide, thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._backends: dict[str, BaseBackend] = {}

    @staticmethod
    def configured() -> dict[str, Mapping[str, Any]]:
        configs = getattr(settings, "CHANNEL_BACKENDS", None) or {defaults.DEFAULT_ALIAS: {"BACKEND": defaults.BACKEND}}
        return dict(configs)

    def __getitem__(self, alias: str) -> BaseBackend:
        with self._lock:
            if alias not in self._backends:
                configs = self.configured()
                if alias not in configs:
                    raise ImproperlyConfigured(
                        f"no channel backend {alias!r} in CHANNEL_BACKENDS (configured: {', '.join(configs)})"
                    )
                self._backends[alias] = backend_from_config(configs[alias], alias)
            return self._backends[alias]

    def reset(self) -> None:
        """Close and forget every backend; the next look-up builds them anew."""
        with self._lock:
            for backend in self._backends.values():
                backend.close()
            self._backends.clear()


backends = BackendHandler()


def get_backend(alias: str = defaults.DEFAULT_ALIAS) -> BaseBackend:
    """The backend configured under ``alias``."""
    return backends[alias]


def _reset_on_setting_change(*, setting: str, **kwargs: Any) -> None:
    if setting == "CHANNEL_BACKENDS":
        backends.reset()


setting_changed.connect(_reset_on_setting_change)
