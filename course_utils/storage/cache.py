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
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from course_utils.storage.checkpoints import load_checkpoint, save_checkpoint

__all__ = ["cache_key", "cached_json", "cached_tensors", "file_fingerprints", "run_folder", "write_json"]


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


def run_folder(data_dir: str | os.PathLike[str], name: str, depends_on: Mapping[str, Any]) -> Path:
    """``data_dir/runs/<name>-<key>``: a training run's folder, named like a cache after what it depends on.

    A run's checkpoints are only worth resuming with the same data, model and recipe. Naming its
    folder by a hash of ``depends_on`` (the data source and its classes, the model, the recipe)
    makes switching any of them start a new run in a new folder, and switching back find the old
    one, finished, instead of a checkpoint that does not fit.
    """
    return Path(data_dir) / "runs" / f"{name}-{cache_key(depends_on, length=10)}"


def cached_json(path: str | os.PathLike[str], compute: Callable[[], Any]) -> tuple[Any, bool]:
    """``(value, from_cache)``: the JSON saved at ``path``, or ``compute()`` saved there now, atomically.

    For small results (an experiment's accuracies): a file that cannot be parsed is computed again.
    """
    path = Path(path)
    if path.is_file():
        try:
            return json.loads(path.read_text(encoding="utf-8")), True
        except (ValueError, OSError):  # cut short or overwritten: compute it again
            pass
    value = compute()
    write_json(path, value)
    return value, False


def write_json(path: Path, value: Any) -> None:
    """Write ``value`` as JSON to ``path`` atomically: the file is whole or absent, never half written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(value, file, indent=1)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
