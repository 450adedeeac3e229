"""The one view every HTTP stack serves: small, no database, no template."""

from django.http import HttpRequest, HttpResponse

BODY = b"Hello from the benchmark view.\n"


def hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse(BODY, content_type="text/plain; charset=utf-8")
