from django.urls import path

from . import views

app_name = "liveblog"

urlpatterns = [
    path("", views.index, name="index"),
    path("liveblog/<slug:slug>/", views.detail, name="detail"),
    path("liveblog/<slug:slug>/posts.json", views.posts, name="posts"),
]
