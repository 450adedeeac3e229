"""Views the interface-server tests call through the whole stack."""

import hashlib
import os
import time
from pathlib import Path

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt


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
        deadline = time.monotonic() + 30
        while not flag.exists() and time.monotonic() < deadline:
            time.sleep(0.02)  # wait-ok: the view waits for the test's flag, with a deadline
        yield b"second piece\n"

    return StreamingHttpResponse(pieces(), content_type="text/plain")


def slow(request: HttpRequest) -> HttpResponse:
    if "TEST_RECORD_PATH" in os.environ:
        with open(os.environ["TEST_RECORD_PATH"], "a") as file:
            file.write(f"slow {os.getpid()}\n")
    time.sleep(float(request.GET.get("seconds", "1")))  # wait-ok: requests in flight for the kill test
    return HttpResponse(f"served by {os.getpid()}")


def whoami(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"{request.user.get_username() or 'anonymous'} {os.getpid()}")
