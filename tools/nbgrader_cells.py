"""nbgrader's cell metadata, written from the course's own tags (``make chrome`` runs it).

Instructors who grade with nbgrader turn a committed notebook into an assignment with
``nbgrader generate_assignment`` (see ``tools/nbgrader_course.py``). nbgrader reads what each
cell is from ``metadata.nbgrader``; this module writes it from what the course already marks,
so that nobody edits it by hand:

================================================  ============================================
the course's cell                                 nbgrader's cell
================================================  ============================================
code cell tagged ``solution`` (an answer)         autograded answer: ``solution``, id ``answer_NAME``
the ``check_NAME(...)`` cell right after it       autograded test: ``grade``, locked, with points
the markdown cell right before the answer          read-only (``locked``): the question, ``question_NAME``
markdown cell tagged ``solution`` (model answer)  manually graded answer, ``written_N`` (exercise N)
the first code cell after "## Exercises"          read-only: the checkers' imports
================================================  ============================================

A check before "## Summary" is a prediction (:data:`PREDICTION_POINTS`), one after it an
exercise (:data:`EXERCISE_POINTS`). ``NAME`` is the checker's name without ``check_``. Every
other cell carries no nbgrader metadata. Only the notebooks in :data:`GRADED` get it; the student
build (``make student``) leaves it out, so that its output is the same with or without it.
"""

from __future__ import annotations

import re
from collections.abc import MutableSequence

__all__ = [
    "EXERCISE_POINTS",
    "GRADED",
    "PREDICTION_POINTS",
    "WRITTEN_POINTS",
    "NbgraderCellError",
    "is_graded",
    "nbgrader_metadata",
]

GRADED = ("01", "02", "03", "04", "05", "06", "07")
"""Notebooks (by number) whose cells carry nbgrader metadata. 08 joins when their predictions
are in: add the number here and run ``make chrome``."""

PREDICTION_POINTS = 1
EXERCISE_POINTS = 2
WRITTEN_POINTS = 1
SCHEMA_VERSION = 3
KEY = "nbgrader"
CHECK = re.compile(r"^(check_(\w+))\(")
TASK = re.compile(r"^\*\*(\d+)\. ")


class NbgraderCellError(ValueError):
    """The exercise or prediction cells are not laid out as nbgrader needs; the message says why."""


def is_graded(notebook_name: str) -> bool:
    """Whether a notebook (``"01-convolution-arithmetic.ipynb"``, or a path ending in it) is in :data:`GRADED`."""
    return notebook_name.rsplit("/", 1)[-1][:2] in GRADED


def _tags(cell: dict) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _mark(cell: dict, grade_id: str, *, solution: bool = False, grade: bool = False,
          locked: bool = False, points: int | None = None) -> None:
    meta: dict = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": SCHEMA_VERSION,
                  "solution": solution}
    if points is not None:
        meta["points"] = points
    cell.setdefault("metadata", {})[KEY] = meta


def nbgrader_metadata(cells: MutableSequence[dict]) -> None:
    """Write ``metadata.nbgrader`` on every cell of one notebook, in place (see the module docstring).

    Raises :class:`NbgraderCellError` when an answer cell is not followed by its check.
    """
    for cell in cells:
        cell.get("metadata", {}).pop(KEY, None)
    sources = [_source(c) for c in cells]
    summary = next((i for i, s in enumerate(sources) if s.startswith("## Summary")), len(cells))
    exercises = next((i for i, s in enumerate(sources) if s.startswith("## Exercises")), None)
    task = 0
    for index, cell in enumerate(cells):
        found = TASK.match(sources[index]) if cell.get("cell_type") == "markdown" else None
        task = int(found.group(1)) if found else task
        if "solution" not in _tags(cell):
            continue
        if cell.get("cell_type") == "markdown":
            _mark(cell, f"written_{task}", solution=True, grade=True, points=WRITTEN_POINTS)
            continue
        after = cells[index + 1] if index + 1 < len(cells) else None
        check = CHECK.match(sources[index + 1]) if after is not None and after.get("cell_type") == "code" else None
        if check is None:
            raise NbgraderCellError(
                f"cell {index} is an answer (tagged 'solution') but the next cell does not call a "
                f"checker (check_...(answer)): put the check right after the answer.")
        name = check.group(2)
        _mark(cell, f"answer_{name}", solution=True)
        _mark(after, f"check_{name}", grade=True, locked=True,
              points=PREDICTION_POINTS if index < summary else EXERCISE_POINTS)
        before = cells[index - 1]
        if before.get("cell_type") == "markdown" and "solution" not in _tags(before):
            _mark(before, f"question_{name}", locked=True)
    if exercises is not None:
        imports = next((c for c in cells[exercises:] if c.get("cell_type") == "code"), None)
        if imports is not None and KEY not in imports.get("metadata", {}):
            _mark(imports, "exercise_imports", locked=True)
