from django.urls import path

from . import views

app_name = "chat"

urlpatterns = [
    path("", views.index, name="index"),
    path("<slug:slug>/", views.room, name="room"),
    path("<slug:slug>/nickname/", views.nickname, name="nickname"),
    path("<slug:slug>/messages.json", views.messages, name="messages"),
]
