"""The channels core as a Django app: its tables and management commands."""

from __future__ import annotations

from django.apps import AppConfig

__all__ = ["ChannelsCoreConfig"]


class ChannelsCoreConfig(AppConfig):
    name = "channels_core"
    verbose_name = "Channels core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
