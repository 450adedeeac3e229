"""Views the interface-server tests call through the whole stack."""

import hashlib
import os
import time
from pathlib import Path

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from chat.models import Message, Room


def record(line: str) -> None:
    """Append a line to the stack's record file, when the test gave one."""
    if "TEST_RECORD_PATH" in os.environ:
        with open(os.environ["TEST_RECORD_PATH"], "a") as file:
            file.write(line + "\n")


def wait_for_flag(flag: Path) -> None:
    """Wait (at most 30 s) until the test creates ``flag``."""
    deadline = time.monotonic() + 30
    while not flag.exists() and time.monotonic() < deadline:
        time.sleep(0.02)  # wait-ok: the view waits for the test's flag, with a deadline


@csrf_exempt
def upload(request: HttpRequest) -> JsonResponse:
    """What arrived: its length and SHA-256 (read as a stream: request.body stops at 2.5 MB)."""
    digest, length = hashlib.sha256(), 0
    for chunk in iter(lambda: request.read(64 * 1024), b""):
        digest.update(chunk)
        length += len(chunk)
    return JsonResponse({"length": length, "sha256": digest.hexdigest()})


def pattern_bytes(size: int) -> bytes:
    """Deterministic bytes the test can rebuild."""
    block = bytes(range(256)) * 4096
    return (block * (size // len(block) + 1))[:size]


def download(request: HttpRequest) -> HttpResponse:
    return HttpResponse(pattern_bytes(int(request.GET["size"])), content_type="application/octet-stream")


def stream(request: HttpRequest) -> StreamingHttpResponse:
    """The first piece at once; the second only after the test has created the flag file."""
    flag = Path(request.GET["flag"])

    def pieces():
        yield b"first piece\n"
        wait_for_flag(flag)
        yield b"second piece\n"

    return StreamingHttpResponse(pieces(), content_type="text/plain")


def slow(request: HttpRequest) -> HttpResponse:
    record(f"slow {os.getpid()}")
    time.sleep(float(request.GET.get("seconds", "1")))  # wait-ok: requests in flight for the kill test
    return HttpResponse(f"served by {os.getpid()}")


def whoami(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"{request.user.get_username() or 'anonymous'} {os.getpid()}")


@csrf_exempt
def write_row(request: HttpRequest) -> HttpResponse:
    """A POST with an effect: save a chat message whose text is the form's ``text`` (a row to look for).

    It records ``started <text> <pid>`` first; with ``?flag=<path>`` it then
    waits for that file, so a test can pause the worker inside the view.
    """
    text = request.POST["text"]
    record(f"started {text} {os.getpid()}")
    if "flag" in request.GET:
        wait_for_flag(Path(request.GET["flag"]))
    room, _ = Room.objects.get_or_create(slug="deadlines", defaults={"title": "Deadlines"})
    Message.objects.create(room=room, author="tests", text=text)
    return HttpResponse(f"wrote {text}")
