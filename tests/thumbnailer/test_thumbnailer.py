"""Uploads answered at once, bad input refused with nothing left behind, thumbnails made idempotently."""

from __future__ import annotations

import io
import logging
import struct
import zlib
from datetime import timedelta
from pathlib import Path

import PIL.Image
import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone

from channels_core.backends import BaseBackend
from thumbnailer import thumbnails
from thumbnailer.consumers import UNREADABLE, make_thumbnails
from thumbnailer.models import GALLERY, Image

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def media(settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def backend(memory_backend: BaseBackend) -> BaseBackend:
    return memory_backend


def image_bytes(
    size: tuple[int, int] = (1200, 800), image_format: str = "JPEG", exif_orientation: int | None = None
) -> bytes:
    data = io.BytesIO()
    image = PIL.Image.new("RGB", size, (200, 80, 40))
    exif = PIL.Image.Exif()
    if exif_orientation:
        exif[0x0112] = exif_orientation
    image.save(data, image_format, exif=exif) if image_format == "JPEG" else image.save(data, image_format)
    return data.getvalue()


def png_with_broken_exif() -> bytes:
    """A valid PNG, plus an ``eXIf`` chunk (right after the header) whose data is not EXIF.

    Every pixel decodes; only reading the EXIF (to turn the photo upright) fails,
    with ``SyntaxError: not a TIFF file``. The chunk's CRC is right, so nothing
    else notices.
    """
    data = io.BytesIO()
    PIL.Image.new("RGB", (64, 48), (200, 80, 40)).save(data, "PNG")
    png = data.getvalue()
    header_end = 8 + 4 + 4 + 13 + 4  # signature, then IHDR: length, type, 13 bytes of data, CRC
    garbage = b"this is not a TIFF header"
    chunk = struct.pack(">I", len(garbage)) + b"eXIf" + garbage + struct.pack(">I", zlib.crc32(b"eXIf" + garbage))
    return png[:header_end] + chunk + png[header_end:]


def upload(client, name: str, content: bytes):
    return client.post("/thumbnailer/", {"image": SimpleUploadedFile(name, content)})


def queued(backend: BaseBackend) -> list[dict]:
    found = []
    while (received := backend.receive(["thumbnailer.create"])) is not None:
        found.append(received[1])
    return found


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_an_upload_answers_at_once_with_a_pending_image_and_one_message(client, backend) -> None:
    response = upload(client, "holiday photo.jpg", image_bytes())
    image = Image.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/thumbnailer/{image.pk}/"
    assert image.status == "pending" and image.title == "holiday photo.jpg"
    assert queued(backend) == [{"image_id": image.pk}]
    assert "holiday" not in image.original.name, "stored names never come from the user's file name"
    page = client.get(f"/thumbnailer/{image.pk}/").content.decode()
    assert "making thumbnails" in page


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        ("notes.jpg", b"just some text, not an image", "That file is not an image."),
        ("anim.bmp", None, "BMP images are not accepted"),
        ("cut.jpg", image_bytes()[:2000], "damaged or cut short"),
        ("exif.png", png_with_broken_exif(), "damaged or cut short"),
    ],
)
def test_bad_uploads_get_a_form_error_and_leave_nothing(client, backend, media, name, content, error) -> None:
    if content is None:
        content = image_bytes(image_format="BMP")
    response = upload(client, name, content)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Image.objects.exists() and queued(backend) == [] and files_under(media) == []


def test_too_large_and_too_many_pixels_are_refused(client, backend, media, settings) -> None:
    settings.THUMBNAILER_MAX_UPLOAD = 10_000
    response = upload(client, "big.jpg", image_bytes(size=(1600, 1600)))
    assert "the limit is 9.8 KiB" in response.content.decode()
    settings.THUMBNAILER_MAX_UPLOAD = 10 * 1024 * 1024
    settings.THUMBNAILER_MAX_PIXELS = 1_000_000
    bomb = io.BytesIO()
    PIL.Image.new("1", (20_000, 20_000)).save(bomb, "PNG")  # 400 million pixels in a tiny file
    response = upload(client, "bomb.png", bomb.getvalue())
    assert "pixels; the limit is 1,000,000." in response.content.decode()
    assert not Image.objects.exists() and queued(backend) == [] and files_under(media) == []


def test_thumbnails_keep_the_aspect_apply_exif_and_are_made_once(client, backend, media) -> None:
    upload(client, "sideways.jpg", image_bytes(size=(1200, 800), exif_orientation=6))  # rotated 90°
    image = Image.objects.get()
    make_thumbnails(image_id=image.pk)
    make_thumbnails(image_id=image.pk)  # a resubmission: harmless
    image.refresh_from_db()
    assert image.status == "done"
    with PIL.Image.open(image.large.path) as large, PIL.Image.open(image.small.path) as small:
        assert large.format == "WEBP" and large.size == (533, 800)  # upright now: taller than wide
        assert small.size == (133, 200)
    assert len(files_under(media / "thumbnails")) == 2


class OtherRunSavesFirst:
    """Storage on which another run for the same image saves each file just before this run does."""

    def __init__(self, storage) -> None:
        self.storage = storage

    def __getattr__(self, name: str):
        return getattr(self.storage, name)

    def save(self, name: str, content, **kwargs) -> str:
        self.storage.save(name, ContentFile(b"the other run's thumbnail"))
        return self.storage.save(name, content, **kwargs)


def test_two_runs_at_once_leave_one_set_of_files(client, backend, media, monkeypatch) -> None:
    upload(client, "a.jpg", image_bytes())
    image = Image.objects.get()
    monkeypatch.setattr(thumbnails, "default_storage", OtherRunSavesFirst(thumbnails.default_storage))
    make_thumbnails(image_id=image.pk)
    image.refresh_from_db()
    assert (image.small.name, image.large.name) == (
        f"thumbnails/{image.pk}-small.webp",
        f"thumbnails/{image.pk}-large.webp",
    )
    assert sorted(p.name for p in files_under(media / "thumbnails")) == [
        f"{image.pk}-large.webp",
        f"{image.pk}-small.webp",
    ]


def test_resubmit_sends_only_images_pending_long_enough(client, backend) -> None:
    upload(client, "a.jpg", image_bytes())
    queued(backend)
    call_command("resubmit_thumbnails", "--older-than", "3600")
    assert queued(backend) == []
    call_command("resubmit_thumbnails", "--older-than", "0")
    assert queued(backend) == [{"image_id": Image.objects.get().pk}]


def stored_image(content: bytes) -> Image:
    """An image stored without the form's checks (uploaded before they existed, say)."""
    return Image.objects.create(original=ContentFile(content, name="stored.png"), title="stored.png")


def test_an_image_pillow_cannot_decode_fails_with_a_warning_and_no_traceback(backend, caplog) -> None:
    image = stored_image(png_with_broken_exif())
    with caplog.at_level(logging.WARNING, logger="thumbnailer"):
        make_thumbnails(image_id=image.pk)
    image.refresh_from_db()
    assert (image.status, image.reason) == ("failed", UNREADABLE)
    (record,) = caplog.records
    assert record.levelname == "WARNING" and record.exc_info is None
    assert record.getMessage().startswith(f"thumbnails of image {image.pk} failed: SyntaxError: not a TIFF file")


@pytest.mark.parametrize(
    "error",
    [
        SyntaxError("not a TIFF file"),
        struct.error("unpack requires a buffer of 4 bytes"),
        ValueError("tile cannot extend outside image"),
        EOFError("no more images"),
        PIL.Image.DecompressionBombError("Image size (400000000 pixels) exceeds limit"),
    ],
    ids=["SyntaxError", "struct.error", "ValueError", "EOFError", "DecompressionBombError"],
)
def test_any_decoding_error_fails_the_image(backend, monkeypatch, error: Exception) -> None:
    """Pillow raises much more than OSError for files it cannot decode."""
    image = stored_image(image_bytes(image_format="PNG"))

    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(PIL.ImageOps, "exif_transpose", broken)
    make_thumbnails(image_id=image.pk)
    image.refresh_from_db()
    assert (image.status, image.reason) == ("failed", UNREADABLE)


def test_resubmission_gives_up_after_the_bound(client, backend, settings) -> None:
    settings.THUMBNAILER_MAX_ATTEMPTS = 3
    upload(client, "a.jpg", image_bytes())  # attempt 1, whose message no worker takes
    image = Image.objects.get()
    sent = [queued(backend)]
    GALLERY.add("!ws.srv1.gallery")  # an open gallery page

    def resubmit() -> str:
        Image.objects.update(updated=timezone.now() - timedelta(hours=1))  # pending for an hour
        out = io.StringIO()
        call_command("resubmit_thumbnails", "--older-than", "60", stdout=out)
        sent.append(queued(backend))
        return out.getvalue()

    assert resubmit() == "Resubmitted 1 pending image(s).\n"  # attempt 2
    assert resubmit() == "Resubmitted 1 pending image(s).\n"  # attempt 3
    assert resubmit() == "Resubmitted 0 pending image(s).\nGave up on 1 image(s) after 3 attempts; marked failed.\n"
    image.refresh_from_db()
    assert (image.status, image.attempts) == ("failed", 3)
    assert image.reason == "Gave up after 3 attempts: no worker could make the thumbnails."
    (news,) = backend.receive_inbox("!ws.srv1", limit=10)
    assert news == ("!ws.srv1.gallery", {"type": "image", "image": image.as_message()}), "the page is told"
    assert resubmit() == "Resubmitted 0 pending image(s).\n"
    assert sent == [[{"image_id": image.pk}]] * 3 + [[], []], "three messages in all, then none"
