from django.apps import AppConfig


class LiveblogConfig(AppConfig):
    name = "liveblog"
    verbose_name = "Live blog"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connect the signal handlers that push every saved or deleted post to readers.
        from . import signals  # noqa: F401
