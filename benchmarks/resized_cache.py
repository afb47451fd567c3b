"""A copy of an image folder, resized once to the training resolution and kept on disk.

The first step of the flowers' transform is ``Resize(256)`` (shorter side 256 px for a
224 px crop). A photograph of 500 × 700 pixels is decoded in full and shrunk again in every
epoch, and decoding plus shrinking can cost more CPU time than everything else the data
pipeline does. :func:`resized_copy` does it once: every image whose shorter side is larger
than the target is resized to it (with the same antialiased bilinear filter ``Resize``
uses) and written as a high-quality JPEG into ``data_dir()/cache/resized/``; images that are
already small enough are copied unchanged (never enlarged). The copy has the same layout
(``train/<class>/…``, ``cat_to_name.json``), so it replaces the original folder anywhere, and
``Resize`` then finds images of the right size and has nothing left to do.

The copy's folder name includes a hash of the original files (paths, sizes, modification
times) and of the settings, so a changed data set or size gets a new copy, and the same
one is reused by every later run. It is built in a temporary folder and renamed into place
at the end (:func:`course_utils.storage.folders.atomic_directory`): an interrupted build never
leaves a half-made copy.

What it costs: one pass over the data, disk space for the copy, and a second JPEG
compression (quality 95: differences of a few grey levels, far below what augmentation
changes).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from course_utils.env import data_dir
from course_utils.storage.cache import cache_key, file_fingerprints
from course_utils.storage.folders import atomic_directory, remove_partial_folders
from course_utils.storage.image_files import IMAGE_SUFFIXES, open_rgb, why_unreadable

__all__ = ["resized_copy", "resized_copy_dir"]

CACHE_VERSION = 1


def resized_copy_dir(root: str | os.PathLike, shorter_side: int, *, quality: int = 95,
                     cache_dir: str | os.PathLike | None = None) -> Path:
    """Where :func:`resized_copy` keeps (or will keep) the copy of ``root`` at ``shorter_side`` px."""
    root = Path(root).resolve()
    images = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    key = cache_key({"version": CACHE_VERSION, "root": str(root), "shorter_side": shorter_side,
                     "quality": quality, "files": file_fingerprints(images, root)}, length=16)
    parent = Path(cache_dir) if cache_dir is not None else data_dir() / "cache" / "resized"
    return parent / f"{root.name}-{shorter_side}px-{key}"


def resized_copy(root: str | os.PathLike, shorter_side: int, *, quality: int = 95,
                 cache_dir: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """A copy of the image folder ``root`` with every image's shorter side at most ``shorter_side``.

    Returns the copy's folder (built on the first call, reused afterwards). Give it the
    size of the transform's ``Resize`` (``TransformSettings.resize``: 256 for 224 px training).
    Files that are not images (``cat_to_name.json``…) are copied as they are.
    """
    from PIL import Image
    from tqdm.auto import tqdm

    if not isinstance(shorter_side, int) or shorter_side < 8:
        raise ValueError(f"shorter_side must be an integer number of pixels (8 or more), got {shorter_side!r}.")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"No folder at {root} to make a resized copy of.")
    final = resized_copy_dir(root, shorter_side, quality=quality, cache_dir=cache_dir)
    if final.is_dir():
        return final
    remove_partial_folders(final)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    with atomic_directory(final) as tmp:
        for path in tqdm(files, desc=f"resizing to {shorter_side} px (once)", disable=not progress, leave=False):
            target = tmp / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix.lower() not in IMAGE_SUFFIXES or why_unreadable(path) is not None:
                shutil.copy2(path, target)  # the data set skips and counts unreadable files, as before
                continue
            image = open_rgb(path)  # 16-bit, palette, CMYK, transparent: the picture it shows, in RGB
            width, height = image.size
            if min(width, height) <= shorter_side:
                shutil.copy2(path, target)  # never enlarge: the transform does that, as before
                continue
            # the same output size and filter as torchvision's Resize(shorter_side) on a PIL image
            long = int(shorter_side * max(width, height) / min(width, height))
            size = (shorter_side, long) if width <= height else (long, shorter_side)
            small = image.resize(size, Image.BILINEAR)
            small.save(target.with_suffix(".jpg") if target.suffix.lower() not in {".jpg", ".jpeg"} else target,
                       quality=quality)
    return final
