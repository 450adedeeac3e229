"""Pages of the live blog, and the JSON a page uses to catch up after a reconnect."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render

from .models import Liveblog


def index(request: HttpRequest) -> HttpResponse:
    """The site's home page: every live blog, and the other demos."""
    return render(request, "liveblog/index.html", {"liveblogs": Liveblog.objects.all()})


def detail(request: HttpRequest, slug: str) -> HttpResponse:
    liveblog = get_object_or_404(Liveblog, slug=slug)
    return render(request, "liveblog/detail.html", {"liveblog": liveblog, "posts": liveblog.posts.all()})


def posts(request: HttpRequest, slug: str) -> JsonResponse:
    """Every post, newest first: what a page that missed messages needs to be right again.

    Delivery over channels is at most once, so a page that was offline (or
    whose socket was replaced) asks here after reconnecting, and replaces its
    list with this one: new posts appear, edited ones change, deleted ones go.
    """
    liveblog = get_object_or_404(Liveblog, slug=slug)
    return JsonResponse({"posts": [post.as_message() for post in liveblog.posts.all()]})
