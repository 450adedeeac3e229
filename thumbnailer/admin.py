from django.contrib import admin

from .models import Image


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["title", "status", "created"]
    list_filter = ["status"]
    readonly_fields = ["original", "small", "large", "status", "reason", "attempts"]
