"""Where the editions, catalogs and glossary live, and how a notebook is named on the command line.

::

    notebooks/NN-name.ipynb             the English notebook: the source of code, outputs, structure
    i18n/zh_CN/NN-name.po               its Chinese text, one entry per markdown cell (msgctxt: cell id)
    notebooks/zh_CN/NN-name.ipynb       the Chinese notebook, written by ``python -m tools.i18n build``
    i18n/glossary.tsv                   the terms, zh ↔ en, that both editions' key-terms tables show
    course_utils/locale/zh_CN/...       the package's messages (checkers, explorers), compiled to .mo
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "LANGUAGE",
    "ROOT",
    "NotebookNotFound",
    "catalog_path",
    "edition_path",
    "english_notebooks",
    "glossary_path",
    "notes_path",
    "select",
    "translated_notebooks",
]

ROOT = Path(__file__).resolve().parents[2]
LANGUAGE = "zh_CN"
"""The one translation so far; the layout takes more (``i18n/<code>/``, ``notebooks/<code>/``)."""


class NotebookNotFound(ValueError):
    """A notebook named on the command line that is not in ``notebooks/``; the message lists them."""


def english_notebooks(root: Path = ROOT) -> list[Path]:
    """The English notebooks, in order."""
    return sorted((root / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def catalog_path(notebook: Path, root: Path = ROOT, language: str = LANGUAGE) -> Path:
    """``i18n/zh_CN/NN-name.po``: the Chinese text of ``notebook``."""
    return root / "i18n" / language / f"{notebook.stem}.po"


def edition_path(notebook: Path, root: Path = ROOT, language: str = LANGUAGE) -> Path:
    """``notebooks/zh_CN/NN-name.ipynb``: the Chinese notebook written from ``notebook``."""
    return root / "notebooks" / language / notebook.name


def glossary_path(root: Path = ROOT) -> Path:
    return root / "i18n" / "glossary.tsv"


def notes_path(root: Path = ROOT) -> Path:
    """The lecture notes (Chinese) next to the repository, as the project shares them (may be absent)."""
    return root.parent / "shared" / "seed" / "cnn-course-notes-zh.txt"


def translated_notebooks(root: Path = ROOT, language: str = LANGUAGE) -> list[Path]:
    """The English notebooks that have a catalog: the ones the Chinese edition holds."""
    return [p for p in english_notebooks(root) if catalog_path(p, root, language).exists()]


def select(names: Sequence[str], root: Path = ROOT) -> list[Path]:
    """English notebooks by ``01``, ``01-convolution-arithmetic`` or the file name."""
    paths = english_notebooks(root)
    chosen = [p for p in paths if {p.name, p.stem, p.name[:2]} & set(names)]
    unknown = [n for n in names if not any(n in (p.name, p.stem, p.name[:2]) for p in paths)]
    if unknown:
        raise NotebookNotFound(f"no notebook {unknown} in {root / 'notebooks'}; choose from "
                               f"{[p.name[:2] for p in paths]} (or the full names).")
    return chosen
