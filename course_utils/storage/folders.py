"""Folders that appear whole or not at all.

A data set that is being downloaded, unpacked or generated is built in a temporary
folder next to its final place and renamed into place only when it is complete. A
rename within one file system is atomic, so a half-built folder can never be mistaken
for data: if the work fails or is interrupted, the final folder simply does not exist.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["PARTIAL_MARKER", "atomic_directory", "remove_partial_folders"]

PARTIAL_MARKER = ".partial-"
"""Part of the name of every temporary folder, so leftovers are easy to recognise."""


@contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Build a folder in a temporary place; rename it to ``final`` only on success.

    Usage::

        with atomic_directory(root / "my-data") as tmp:
            (tmp / "train").mkdir()      # ... write everything into tmp ...
        # here root / "my-data" exists and is complete

    If the ``with`` body raises (or is interrupted with Ctrl-C), the temporary folder is
    deleted and ``final`` is left untouched. Leftovers of a killed process carry
    ``PARTIAL_MARKER`` in their name and are removed by :func:`remove_partial_folders`.
    """
    final = Path(final)
    if final.exists():
        raise FileExistsError(f"{final} already exists; delete it first if you want to rebuild it.")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=final.name + PARTIAL_MARKER, dir=final.parent))
    try:
        yield tmp
        umask = os.umask(0)  # mkdtemp made the folder private (0700); give it the usual permissions
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def remove_partial_folders(final: Path) -> list[Path]:
    """Delete the temporary folders that earlier, interrupted builds of ``final`` left behind."""
    final = Path(final)
    if not final.parent.is_dir():
        return []
    removed = []
    for leftover in final.parent.glob(final.name + PARTIAL_MARKER + "*"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
            removed.append(leftover)
    return removed
