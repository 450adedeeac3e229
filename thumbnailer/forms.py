"""The upload form: every check happens here, before anything is stored or queued."""

import uuid
import warnings

import PIL.Image
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from channels_core.messages import format_size

from .thumbnails import DECODING_ERRORS

#: Pillow's format name → the extension stored files get.
ALLOWED_FORMATS = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp"}


class UploadForm(forms.Form):
    image = forms.FileField(help_text="A JPEG, PNG, GIF or WebP image.")

    def clean_image(self):
        upload = self.cleaned_data["image"]
        limit = settings.THUMBNAILER_MAX_UPLOAD
        if upload.size > limit:
            raise ValidationError(f"That file is {format_size(upload.size)}; the limit is {format_size(limit)}.")
        try:
            with warnings.catch_warnings():
                # Pillow only warns about very large images; here that is an error.
                warnings.simplefilter("error", PIL.Image.DecompressionBombWarning)
                with PIL.Image.open(upload) as image:
                    image_format = image.format
                    pixels = image.width * image.height
                    if pixels > settings.THUMBNAILER_MAX_PIXELS:
                        raise ValidationError(self._too_many_pixels(pixels))
                    if image_format not in ALLOWED_FORMATS:
                        raise ValidationError(f"{image_format} images are not accepted; send JPEG, PNG, GIF or WebP.")
                    image.load()  # decodes every pixel: a truncated file fails here, not in the worker
                    image.getexif()  # the worker reads it to turn the photo upright: a broken one fails here too
        except (PIL.Image.DecompressionBombWarning, PIL.Image.DecompressionBombError):
            raise ValidationError(self._too_many_pixels(None)) from None
        except PIL.UnidentifiedImageError:
            raise ValidationError("That file is not an image.") from None
        except DECODING_ERRORS:  # Pillow raises more than OSError for a broken file
            raise ValidationError("That image is damaged or cut short; it cannot be read.") from None
        upload.seek(0)
        # The uploader's file name is kept as a title to show (escaped, like all text);
        # the stored name never comes from it.
        self.title = (upload.name or "image")[:200]
        upload.name = f"{uuid.uuid4().hex}.{ALLOWED_FORMATS[image_format]}"
        return upload

    @staticmethod
    def _too_many_pixels(pixels: int | None) -> str:
        limit = settings.THUMBNAILER_MAX_PIXELS
        size = f"{pixels:,} pixels" if pixels else "too many pixels"
        return f"That image has {size}; the limit is {limit:,}."
