"""Image files as real folders hold them: open any of them as RGB, and find the ones that cannot be read.

Photographs arrive in many modes: grayscale (``L``), with transparency (``RGBA``, ``LA``), with a
palette (``P``), CMYK from a print workflow, 16-bit grayscale from a scanner or a microscope.
:func:`open_rgb` turns each into the 8-bit RGB picture a model expects. (``ImageFolder``'s own
loader, ``Image.convert("RGB")``, clips a 16-bit image to white and shows transparent pixels
in whatever colour they happen to hold.)

Folders also hold files that are not images (``.DS_Store``, ``Thumbs.db``, notes) and images
that cannot be read: a download cut short, a zero-byte file, an error page saved as ``.jpg``.
:func:`why_unreadable` finds those without decoding every picture: it reads each file's
header, checks that a JPEG ends with the marker that ends a JPEG (a cut-off download does not)
and decodes it only when it does not, and checks a PNG's checksums. A data set can then skip
such files, say how many, and train on the rest, instead of stopping in the middle of an epoch.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from course_utils.arguments import first_line

__all__ = ["IMAGE_SUFFIXES", "open_rgb", "to_rgb", "why_unreadable"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
"""The suffixes torchvision's ``ImageFolder`` treats as images (its ``IMG_EXTENSIONS``)."""

_JPEG_END = b"\xff\xd9"


def to_rgb(image: Image.Image) -> Image.Image:
    """The 8-bit RGB version of ``image``, whatever its mode.

    16-bit (and 32-bit integer) grayscale is scaled to 0–255 rather than clipped; transparent
    pixels are shown over white; everything else goes through Pillow's ``convert("RGB")``
    (which also undoes the inversion of Adobe CMYK JPEGs).
    """
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I;16") or values.max(initial=0) > 255:
            values = values / 257  # 65535 -> 255
        return Image.fromarray(np.clip(values, 0, 255).round().astype(np.uint8), "L").convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def open_rgb(path: str | os.PathLike) -> Image.Image:
    """Read the image file at ``path`` as an 8-bit RGB picture (see :func:`to_rgb`).

    A file that cannot be decoded raises an ``OSError`` that names it and says what to do,
    instead of Pillow's bare ``Truncated File Read``.
    """
    try:
        with Image.open(path) as image:
            image.load()
            return to_rgb(image)
    except Exception as error:  # Pillow raises many kinds of errors on damaged files
        raise OSError(
            f"{path} cannot be read as an image ({first_line(error)}). Delete it, or replace it "
            "with a good copy."
        ) from error


def why_unreadable(path: str | os.PathLike) -> str | None:
    """Why the file at ``path`` cannot be used as an image, or ``None`` when it can.

    Cheap: a header read for most files; a full decode only for a JPEG that does not end
    with the end-of-image marker (a cut-off download, or a camera's trailing data).
    """
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            return "empty, 0 bytes"
        with Image.open(path) as image:
            if image.format == "JPEG" and not _ends_like_a_jpeg(path):
                image.load()  # raises if the data really stops early
            elif image.format == "PNG":
                image.verify()  # reads every chunk and checks its checksum
    except UnidentifiedImageError:
        return "not in any image format Pillow knows"
    except Exception as error:  # any failure to read means: not usable as an image
        return first_line(error)
    return None


def _ends_like_a_jpeg(path: Path) -> bool:
    with open(path, "rb") as file:
        file.seek(max(0, path.stat().st_size - 64))
        tail = file.read()
    return _JPEG_END in tail.rstrip(b"\x00\r\n ")[-16:]
