"""Pages of the live blog, and the JSON a page catches up with when recovery could not do it."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render

from .models import Liveblog


def index(request: HttpRequest) -> HttpResponse:
    """The site's home page: every live blog, and the other demos."""
    return render(request, "liveblog/index.html", {"liveblogs": Liveblog.objects.all()})


def detail(request: HttpRequest, slug: str) -> HttpResponse:
    """The blog's posts, and the position of its group's history they are as of.

    The position is taken before the posts are read: a post sent to the group
    after it is replayed to the page's socket when it joins, even if the page
    shows it already (the page replaces it, by id). Taken after, a post saved
    in between would be in neither.
    """
    liveblog = get_object_or_404(Liveblog, slug=slug)
    position = liveblog.group.position()
    context = {"liveblog": liveblog, "position": position, "posts": list(liveblog.posts.all())}
    return render(request, "liveblog/detail.html", context)


def posts(request: HttpRequest, slug: str) -> JsonResponse:
    """Every post, newest first: what a page that missed messages needs to be right again.

    A page whose socket comes back gets what it missed from the group's
    history; only when that could not cover its absence (the history was
    lost, or the page was away for more messages than it keeps) does it ask
    here, and replace its list with this one: new posts appear, edited ones
    change, deleted ones go.
    """
    liveblog = get_object_or_404(Liveblog, slug=slug)
    return JsonResponse({"posts": [post.as_message() for post in liveblog.posts.all()]})
