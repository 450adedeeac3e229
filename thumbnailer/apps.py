from django.apps import AppConfig


class ThumbnailerConfig(AppConfig):
    name = "thumbnailer"
    verbose_name = "Thumbnailer"
    default_auto_field = "django.db.models.BigAutoField"
