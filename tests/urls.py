"""The site's URLs plus the views the stack tests call."""

from django.urls import include, path

from tests.testapp import views

urlpatterns = [
    path("tests/upload/", views.upload),
    path("tests/download/", views.download),
    path("tests/stream/", views.stream),
    path("tests/slow/", views.slow),
    path("tests/whoami/", views.whoami),
    path("tests/write-row/", views.write_row),
    path("", include("config.urls")),
]
