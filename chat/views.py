"""Room pages, the nickname form, and the JSON a page catches up with."""

from django import forms
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from .models import Room


class NicknameForm(forms.Form):
    nickname = forms.CharField(max_length=30, strip=True)


def index(request: HttpRequest) -> HttpResponse:
    return render(request, "chat/index.html", {"rooms": Room.objects.all()})


def room(request: HttpRequest, slug: str) -> HttpResponse:
    room = get_object_or_404(Room, slug=slug)
    name = request.user.get_username() if request.user.is_authenticated else request.session.get("nickname")
    # Taken before the history is read: what is said after this position is
    # replayed to the page's socket when it joins (a message the page shows
    # already is not shown twice: the page knows messages by id).
    position = room.group.position()
    context = {
        "room": room,
        "name": name,
        "position": position,
        "history": room.history(),
        "form": NicknameForm(),
        "refused": room.staff_only and not request.user.is_staff,
    }
    return render(request, "chat/room.html", context)


@require_POST
def nickname(request: HttpRequest, slug: str) -> HttpResponse:
    """An anonymous visitor picks a nickname once; it stays in their Django session."""
    form = NicknameForm(request.POST)
    if form.is_valid():
        request.session["nickname"] = form.cleaned_data["nickname"]
    return redirect("chat:room", slug=slug)


def messages(request: HttpRequest, slug: str) -> JsonResponse:
    room = get_object_or_404(Room, slug=slug)
    if room.staff_only and not request.user.is_staff:  # the same rule as the room page and its socket
        return JsonResponse({"error": "This room is for staff only."}, status=403)
    return JsonResponse({"messages": [message.as_message() for message in room.history()]})
