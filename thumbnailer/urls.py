from django.urls import path

from . import views

app_name = "thumbnailer"

urlpatterns = [
    path("", views.gallery, name="gallery"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>.json", views.state, name="state"),
]
