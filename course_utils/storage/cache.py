"""Caches named after what they depend on: compute once, reuse until an input changes.

A cache is only safe if its name changes whenever anything it was computed from changes. The
course's caches (backbone features, resized image folders) are named by :func:`cache_key`: a
hash of a plain description of their inputs, in which image files appear through
:func:`file_fingerprints` (path, size and modification time of each: a changed or replaced
file changes the key without reading every byte). :func:`cached_tensors` then loads a
cached file, or computes and saves it atomically, and computes it again when the file on disk
is damaged.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from course_utils.storage.checkpoints import load_checkpoint, save_checkpoint

__all__ = ["cache_key", "cached_tensors", "file_fingerprints"]


def file_fingerprints(files: Iterable[str | os.PathLike[str]], root: str | os.PathLike[str]) -> list[list[Any]]:
    """``[relative path, size, modification time]`` of every file, in the order given."""
    out: list[list[Any]] = []
    for path in files:
        stat = os.stat(path)
        out.append([os.path.relpath(path, root), stat.st_size, stat.st_mtime_ns])
    return out


def cache_key(description: Mapping[str, Any], length: int = 24) -> str:
    """A short hash of ``description`` (plain values only), the same on every machine and run."""
    text = json.dumps(description, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def cached_tensors(path: str | os.PathLike[str], compute: Callable[[], Mapping[str, Any]]) -> tuple[dict[str, Any], bool]:
    """``(state, from_cache)``: the dict saved at ``path``, or ``compute()`` saved there now.

    The file is loaded with ``weights_only=True`` (tensors and plain values only); a file that
    cannot be read (cut short, overwritten, tampered with) is computed again and replaced.
    Saving is atomic (:func:`course_utils.storage.checkpoints.save_checkpoint`).
    """
    path = Path(path)
    if path.is_file():
        try:
            return load_checkpoint(path), True
        except (RuntimeError, TypeError, pickle.UnpicklingError):  # damaged: compute it again
            pass
    state = dict(compute())
    save_checkpoint(path, state)
    return state, False
