"""Making thumbnails: the work that happens after the response, in a worker."""

import io
import struct

import PIL.Image
import PIL.ImageOps
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from .models import SIZES, Image

#: What Pillow raises for a file it cannot decode. A broken EXIF block, for one,
#: is a SyntaxError ("not a TIFF file"), found only when the photo is turned
#: upright. The list is Pillow's own: its fuzz tests expect OSError,
#: SyntaxError, ValueError, MemoryError, NotImplementedError, OverflowError and
#: DecompressionBombError, and while opening a file it treats IndexError,
#: TypeError, KeyError, EOFError and struct.error as broken data too.
DECODING_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    MemoryError,
    NotImplementedError,
    OverflowError,
    PIL.Image.DecompressionBombError,
    IndexError,
    TypeError,
    KeyError,
    EOFError,
    struct.error,
)


def make(image: Image) -> None:
    """Make every size of thumbnail for ``image``, as WebP with the photo's orientation applied.

    Stored names depend only on the image, and an existing file of that name
    is replaced: running this twice for one image, one run after the other or
    both at once, leaves one set of files.
    """
    with default_storage.open(image.original.name, "rb") as stored, PIL.Image.open(stored) as original:
        upright = PIL.ImageOps.exif_transpose(original)
        upright = upright.convert("RGBA" if upright.mode in ("RGBA", "LA", "P") else "RGB")
        for name, longest_side in SIZES.items():
            thumbnail = upright.copy()
            thumbnail.thumbnail((longest_side, longest_side))  # keeps the aspect ratio
            data = io.BytesIO()
            thumbnail.save(data, "WEBP", quality=82)
            path = f"thumbnails/{image.pk}-{name}.webp"
            if default_storage.exists(path):  # left by an earlier run, perhaps cut short
                default_storage.delete(path)
            saved = default_storage.save(path, ContentFile(data.getvalue()))
            if saved != path:
                # Another run for this image (a resubmitted message, on another thread
                # or worker) saved this size since we checked; the storage then picks a
                # new name. Both files hold the same picture: keep one.
                default_storage.delete(saved)
            getattr(image, name).name = path
