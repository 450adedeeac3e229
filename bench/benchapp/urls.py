"""URLs of the benchmark settings: the bench view, nothing else."""

from django.urls import path

from . import views

urlpatterns = [
    path("bench/hello/", views.hello, name="bench-hello"),
]
