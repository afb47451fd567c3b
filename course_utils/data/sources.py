"""Where a data set comes from: your folder, a download, or a set generated offline.

Every data set of the course is found the same way, in this order:

1. **your folder**: a path you give (or the run context's, e.g. ``COURSE_FLOWERS_DIR``);
2. **a download**: a copy downloaded earlier, or the download itself when the network is there;
3. **generated**: a set the course draws locally, which always works offline.

What was used is a :class:`DataSource`, which a notebook prints (or shows as a banner) so that
every learner knows what their numbers are numbers of. When a download fails and the course
falls back to a generated set, it says so in one way only: a :class:`DataSourceWarning`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TypeVar

from course_utils.arguments import warn_caller
from course_utils.env import stall_timeout

__all__ = ["FOLDER", "DOWNLOAD", "GENERATED", "DataSource", "DataSourceWarning", "download_or_fall_back"]

FOLDER, DOWNLOAD, GENERATED = "folder", "download", "generated"
KINDS = (FOLDER, DOWNLOAD, GENERATED)

T = TypeVar("T")


class DataSourceWarning(UserWarning):
    """A download failed and the course used a generated data set instead."""


@dataclass(frozen=True)
class DataSource:
    """Which data a run uses: its kind (``folder``, ``download`` or ``generated``) and a name."""

    kind: str
    name: str
    """Short: ``"MNIST"``, ``"Flowers-102"``, ``"generated digits"``…"""
    description: str
    """One sentence for a learner."""
    root: Path | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}.")

    @property
    def is_generated(self) -> bool:
        """True for data the course drew itself: its accuracies are not real-data numbers."""
        return self.kind == GENERATED

    def __str__(self) -> str:
        return self.name

    def banner(self, details: str = "", *, hint: str = "") -> str:
        """A short HTML banner for a notebook: which data this run uses, and what that means.

        ``details`` (counts, say) goes on the second line; ``hint`` tells a learner with
        generated data how to get real data.
        """
        note = ""
        if self.is_generated:
            note = (f"<br>This is <b>generated</b> data drawn by the course. Accuracies on it show that "
                    f"the code works; they are <b>not real-data numbers</b>. {hint}")
        colour = "#fff3cd" if self.is_generated else "#d1e7dd"
        return (f'<div style="background:{colour};color:#000;padding:8px 12px;border-radius:4px">'
                f"<b>Data source: {escape(self.description)}</b>" + (f"<br>{details}" if details else "")
                + f"{note}</div>")


def download_or_fall_back(download: Callable[[], T], *, what: str, instead: str) -> T | None:
    """Run ``download()``; if it fails, say once what happened and return None.

    The download runs under :func:`course_utils.env.stall_timeout`, so a connection that
    goes silent fails instead of hanging. A failure (no network, a broken connection, a bad
    checksum: ``OSError`` or ``RuntimeError``) becomes one :class:`DataSourceWarning` that
    names ``what`` failed and the ``instead`` that will be used.
    """
    try:
        with stall_timeout():
            return download()
    except (OSError, RuntimeError) as error:
        warn_caller(f"{what} failed ({error}); using {instead} instead.", DataSourceWarning)
        return None
