from django.contrib import admin

from .models import Liveblog, Post


@admin.register(Liveblog)
class LiveblogAdmin(admin.ModelAdmin):
    list_display = ["title", "slug", "created"]
    prepopulated_fields = {"slug": ["title"]}


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    list_display = ["__str__", "liveblog", "created", "updated"]
    list_filter = ["liveblog"]
    search_fields = ["body"]
