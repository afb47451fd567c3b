"""Write a Chinese notebook from its English one and its catalog; compare the two editions.

The Chinese notebook is the English one with

- every markdown cell's source replaced by its translation (the English stays where the catalog
  has none yet, or only a fuzzy one: gettext's rule), the key-terms table written from the glossary;
- the run-time line and notebook 00's course table written from the times table in Chinese
  (:func:`tools.run_times.with_times`), the course table's links pointing at the Chinese notebooks
  that exist and at the English ones otherwise;
- the launch badges pointing at the Chinese notebook (:func:`tools.notebook_chrome.chrome_notebook`);
- the English notebook's nbgrader metadata, cell for cell (the same cells graded, the same points);
- one more code cell, right after the Colab install cell: :data:`LANGUAGE_SOURCE`, which makes the
  checkers and explorers speak Chinese (tag :data:`LANGUAGE_TAG`; it prints nothing);
- the tag ``nbval-ignore-output`` on every check cell: its committed output is the English run's,
  but a kernel that runs the Chinese notebook prints the verdict in Chinese;
- ``metadata.i18n``: the language and the English notebook it was written from.

Every code cell's source and outputs are the English notebook's, byte for byte: the Chinese
notebooks need no run of their own.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from pathlib import Path

import nbformat
import polib

from tools.i18n.glossary import Glossary, is_key_terms_cell, parse_key_terms, table
from tools.launch_links import BADGES_TAG, INSTALL_TAG, Repository
from tools.notebook_chrome import chrome_notebook
from tools.run_times import (
    COURSE_TABLE_MARKER,
    RUN_TIME_MARKER,
    NotebookTimes,
    with_times,
    without_times,
)

__all__ = [
    "CHECK_CELL",
    "LANGUAGE_SOURCE",
    "LANGUAGE_TAG",
    "code_differences",
    "edition",
    "edition_text",
    "readme_course_table",
    "translations",
]

LANGUAGE_TAG = "set-language"
LANGUAGE_SOURCE = {
    "zh_CN": (
        "# 中文版：检查器的提示和交互控件的标签用中文显示（英文版没有这一格）。\n"
        "from course_utils.i18n import set_language\n"
        "\n"
        'set_language("zh_CN")'
    ),
}
CHECK_CELL = re.compile(r"^check_\w+\(")
"""A check cell calls one checker and nothing else (CONTRIBUTING.md, "Exercises that check themselves")."""
IGNORE_OUTPUT = "nbval-ignore-output"


def translations(catalog: polib.POFile) -> dict[str, polib.POEntry]:
    """The usable translations by context: translated, not fuzzy, not obsolete."""
    return {e.msgctxt: e for e in catalog if e.msgctxt and e.msgstr and not e.obsolete and "fuzzy" not in e.flags}


def _translate(ctxt: str, english: str, usable: dict[str, polib.POEntry]) -> str:
    entry = usable.get(ctxt)
    return entry.msgstr if entry is not None and entry.msgid == english else english


def _language_cell(language: str, with_ids: bool) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(LANGUAGE_SOURCE[language])
    cell.metadata = nbformat.from_dict({"slideshow": {"slide_type": "skip"}, "tags": [LANGUAGE_TAG]})
    if with_ids:
        cell["id"] = LANGUAGE_TAG
    else:
        cell.pop("id", None)
    return cell


def _with_times(text: str, cell_id: str, usable: dict[str, polib.POEntry], notebook: str,
                rows: Sequence[NotebookTimes], language: str, translated: Sequence[str]) -> str:
    """``text`` with its run-time line and course table in ``language`` (topics from the catalog)."""
    topics = {row.notebook: _translate(f"{cell_id}/{row.notebook}", row.topic, usable) for row in rows}
    links = {row.notebook: f"{row.notebook}.ipynb" if row.notebook in translated else f"../{row.notebook}.ipynb"
             for row in rows}
    return with_times(text, notebook, list(rows), language, topics, links)


def readme_course_table(readme: str, english_00: nbformat.NotebookNode, catalog_00: polib.POFile,
                        rows: Sequence[NotebookTimes], language: str, translated: Sequence[str]) -> str:
    """The Chinese README with its course table (under its ``<!-- course-table -->`` line) written now.

    The same table as the Chinese notebook 00's (topics from 00's catalog), its links pointing from the
    repository's root at the Chinese notebooks that exist and at the English ones otherwise.
    """
    usable = translations(catalog_00)
    (cell_id,) = [cell.id for cell in english_00.cells if COURSE_TABLE_MARKER in cell.source]
    topics = {row.notebook: _translate(f"{cell_id}/{row.notebook}", row.topic, usable) for row in rows}
    links = {row.notebook: f"notebooks/{language}/{row.notebook}.ipynb" if row.notebook in translated
             else f"notebooks/{row.notebook}.ipynb" for row in rows}
    return with_times(readme, "00-start-here", list(rows), language, topics, links)


def _grade_as_english(notebook: nbformat.NotebookNode, english: nbformat.NotebookNode) -> None:
    """Give every cell the English cell's nbgrader metadata (found by id): both editions grade the
    same cells with the same points. (The chrome derives it from the "## Summary" and "## Exercises"
    headings, which the Chinese edition translates.)"""
    grading = {cell.get("id"): cell.metadata.get("nbgrader") for cell in english.cells}
    for cell in notebook.cells:
        cell.metadata.pop("nbgrader", None)
        meta = grading.get(cell.get("id"))
        if meta is not None:
            cell.metadata["nbgrader"] = copy.deepcopy(meta)


def edition(english: nbformat.NotebookNode, catalog: polib.POFile, glossary: Glossary, *, path_in_repo: str,
            source_in_repo: str, repo: Repository, requirements: list[str], language: str,
            rows: Sequence[NotebookTimes] = (), translated: Sequence[str] = ()) -> nbformat.NotebookNode:
    """The notebook in ``language``, written from the English notebook and its catalog.

    ``rows``: the times table (the run-time line, the course table); ``translated``: the notebooks
    (names) that the edition holds, which the course table links to.
    """
    usable = translations(catalog)
    notebook = copy.deepcopy(english)
    for cell in notebook.cells:
        if cell.cell_type != "markdown" or BADGES_TAG in cell.metadata.get("tags", []):
            continue
        if is_key_terms_cell(cell):
            key_terms = parse_key_terms(cell.source, f"{source_in_repo}, cell {cell.id}")
            meanings = {}
            for name, meaning in key_terms.rows:
                term = glossary.find(name)
                if meaning is not None:
                    meanings[term.en] = _translate(f"{cell.id}/{term.en}", meaning, usable)
            prose = _translate(cell.id, key_terms.prose(), usable)
            cell.source = key_terms.with_table(prose, table(glossary, key_terms, language, meanings))
        else:
            text = _translate(cell.id, without_times(cell.source), usable)
            if RUN_TIME_MARKER in text or COURSE_TABLE_MARKER in text:
                text = _with_times(text, cell.id, usable, Path(source_in_repo).stem, rows, language, translated)
            cell.source = text
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "code" and CHECK_CELL.match(cell.source) and IGNORE_OUTPUT not in tags:
            cell.metadata["tags"] = [*tags, IGNORE_OUTPUT]
    chrome_notebook(notebook, path_in_repo, repo, requirements, language=language)
    _grade_as_english(notebook, english)
    with_ids = (notebook.get("nbformat"), notebook.get("nbformat_minor", 0)) >= (4, 5)
    install = next((i for i, c in enumerate(notebook.cells) if INSTALL_TAG in c.metadata.get("tags", [])), 0)
    notebook.cells.insert(install + 1, _language_cell(language, with_ids))
    notebook.metadata["i18n"] = {"language": language, "translated_from": source_in_repo}
    nbformat.validate(notebook)
    return notebook


def edition_text(notebook: nbformat.NotebookNode) -> str:
    """The file's text, as ``make chrome`` writes notebooks."""
    return nbformat.writes(notebook) + "\n"


def _without(tags: list[str], tag: str) -> list[str]:
    return [t for t in tags if t != tag]


def code_differences(english: Path, translated: Path) -> list[str]:
    """How the two editions' code cells differ (nothing, when right), apart from what is meant to.

    Meant to differ: the one language cell, the check cells' ``nbval-ignore-output`` tag, and the
    chrome (the badges cell is markdown; the install cell is the same). Compared: each code
    cell's id, source, outputs, execution count and metadata.
    """
    left = [c for c in nbformat.read(english, as_version=4).cells if c.cell_type == "code"]
    right = [c for c in nbformat.read(translated, as_version=4).cells if c.cell_type == "code"]
    extra = [c for c in right if LANGUAGE_TAG in c.metadata.get("tags", [])]
    problems = [] if len(extra) == 1 else [f"{translated.name}: expected one cell tagged {LANGUAGE_TAG!r}, found {len(extra)}"]
    right = [c for c in right if LANGUAGE_TAG not in c.metadata.get("tags", [])]
    if len(left) != len(right):
        return [*problems, f"{translated.name}: {len(right)} code cells, the English has {len(left)}"]
    for a, b in zip(left, right, strict=True):
        where = f"{translated.name}, code cell {a.get('id', '?')}"
        meta_a, meta_b = copy.deepcopy(a.metadata), copy.deepcopy(b.metadata)
        if CHECK_CELL.match(a.source):
            meta_a["tags"] = _without(meta_a.get("tags", []), IGNORE_OUTPUT)
            meta_b["tags"] = _without(meta_b.get("tags", []), IGNORE_OUTPUT)
        for what, x, y in (("id", a.get("id"), b.get("id")), ("source", a.source, b.source),
                           ("outputs", a.outputs, b.outputs), ("execution count", a.execution_count, b.execution_count),
                           ("metadata", meta_a, meta_b)):
            if x != y:
                problems.append(f"{where}: its {what} differs from the English notebook's")
    return problems
