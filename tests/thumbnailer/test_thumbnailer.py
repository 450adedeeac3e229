"""Uploads answered at once, bad input refused with nothing left behind, thumbnails made idempotently."""

from __future__ import annotations

import io
from pathlib import Path

import PIL.Image
import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from channels_core.backends import BaseBackend
from thumbnailer import thumbnails
from thumbnailer.consumers import make_thumbnails
from thumbnailer.models import Image

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
