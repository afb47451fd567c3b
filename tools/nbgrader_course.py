"""Grade the course with nbgrader: ``python -m tools.nbgrader_course DIR [NN ...]``.

Writes an nbgrader course folder ``DIR`` (an instructor's, outside the repository):

- ``DIR/nbgrader_config.py``: nbgrader's settings for this course (below);
- ``DIR/source/NN-name/NN-name.ipynb``: each chosen notebook as committed (default: those in
  :data:`tools.nbgrader_cells.GRADED`), one assignment per notebook.

Then, in ``DIR``, nbgrader's own commands::

    nbgrader generate_assignment 01-convolution-arithmetic   # release/01-.../: what learners get
    # collect each learner's notebook into submitted/<learner>/01-convolution-arithmetic/
    nbgrader autograde 01-convolution-arithmetic               # autograded/ and the gradebook
    nbgrader generate_feedback 01-convolution-arithmetic       # feedback/: an HTML page each

What the configuration does, and why:

- the released notebooks get the course's stubs (:class:`CourseStubs` in place of nbgrader's
  ``ClearSolutions``): ``answer = ...`` and ``raise NotDone()``, not ``raise
  NotImplementedError()``, so that they run top to bottom and are cell for cell what
  ``make student`` writes (instructor notes left out, model answers replaced by "Your answer");
- while nbgrader executes a notebook, ``COURSE_GRADING=1``: the checks print what learners see
  and then raise when the answer is not right, so nbgrader scores that test cell 0
  (:func:`course_utils.env.graded_run`);
- ``COURSE_FAST=1`` unless set: the checks print the same in fast mode, in a fraction of the time;
- the kernels import this checkout's ``course_utils`` (``PYTHONPATH``), and nbgrader finds its
  ``alembic`` next to the Python that runs it, activated or not.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

try:
    from nbgrader.preprocessors import ClearSolutions
except ModuleNotFoundError as error:  # a dev dependency: say how to get it
    raise ModuleNotFoundError("nbgrader is not installed: `pip install nbgrader` (or `pip install -e '.[dev]'`, "
                              "which `make setup` runs).") from error

from tools.build_notebooks import INSTRUCTOR_TAG, SOLUTION_TAG, WORDS, student_cell
from tools.nbgrader_cells import GRADED

__all__ = ["CourseStubs", "configure", "config_text", "main", "write_course"]

ROOT = Path(__file__).resolve().parents[1]
CELL_TIMEOUT = 600
"""Seconds nbgrader waits for one cell (its default, 30, is too short for a training cell)."""


class CourseStubs(ClearSolutions):
    """nbgrader's ``ClearSolutions`` with the course's stubs: a released notebook is the student build's.

    Cells tagged ``instructor`` are left out; a ``solution`` cell gets the stub that
    ``tools.build_notebooks.student_cell`` gives it; any other cell goes to nbgrader's own rules
    (which refuse a solution region in a cell that is not a solution cell).
    """

    text_stub = WORDS["en"]["placeholder"]

    def preprocess(self, nb: Any, resources: dict) -> tuple[Any, dict]:
        nb.cells = [c for c in nb.cells if INSTRUCTOR_TAG not in c.metadata.get("tags", [])]
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell: Any, resources: dict, index: int) -> tuple[Any, dict]:
        if SOLUTION_TAG not in cell.metadata.get("tags", []):
            return super().preprocess_cell(cell, resources, index)
        if not cell.metadata.get("nbgrader", {}).get("solution"):
            raise RuntimeError(f"cell {index} is tagged 'solution' but has no nbgrader metadata: "
                               f"run `make chrome` (tools/nbgrader_cells.py writes it).")
        student_cell(cell, where=f"cell {index}")
        return cell, resources


def configure(c: Any) -> None:
    """Apply the course's nbgrader settings to a traitlets config ``c`` (``get_config()``)."""
    from nbgrader.converters import GenerateAssignment

    default = GenerateAssignment.class_traits()["preprocessors"].default()
    c.GenerateAssignment.preprocessors = [CourseStubs if p is ClearSolutions else p for p in default]
    c.Execute.timeout = CELL_TIMEOUT


def config_text(root: Path = ROOT) -> str:
    """The ``nbgrader_config.py`` of a course folder whose notebooks come from ``root``."""
    return f'''# nbgrader's settings for the CNN course, written by `python -m tools.nbgrader_course`.
# What each line does and why: tools/nbgrader_course.py (its docstring).
import os
import sys

COURSE = {str(root)!r}  # the course's checkout: its tools and course_utils
sys.path.insert(0, COURSE)
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [COURSE, os.environ.get("PYTHONPATH")]))
# nbgrader runs `alembic` (its database migrations) from PATH: this Python's scripts first
os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
os.environ["COURSE_GRADING"] = "1"  # a check that is not right raises, so nbgrader scores it 0
os.environ.setdefault("COURSE_FAST", "1")  # the checks print the same in fast mode

from tools.nbgrader_course import configure  # noqa: E402

configure(get_config())  # noqa: F821 (nbgrader defines get_config)
'''


def _notebooks(names: Sequence[str], root: Path) -> list[Path]:
    paths = sorted((root / "notebooks").glob("[0-9][0-9]-*.ipynb"))
    wanted = list(names) or list(GRADED)
    chosen = [p for p in paths if p.name[:2] in wanted or p.stem in wanted or p.name in wanted]
    missing = [n for n in wanted if not any(n in (p.name[:2], p.stem, p.name) for p in chosen)]
    if missing:
        raise SystemExit(f"no notebook {missing} in {root / 'notebooks'}; choose from {[p.name[:2] for p in paths]}.")
    ungraded = [p.name for p in chosen if p.name[:2] not in GRADED]
    if ungraded:
        raise SystemExit(f"{ungraded} carry no nbgrader metadata yet: add their numbers to GRADED in "
                         f"tools/nbgrader_cells.py and run `make chrome`.")
    return chosen


def write_course(folder: Path, names: Sequence[str] = (), root: Path = ROOT) -> list[Path]:
    """Write ``nbgrader_config.py`` and ``source/NN-name/NN-name.ipynb`` into ``folder``; return the notebooks."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nbgrader_config.py").write_text(config_text(root), encoding="utf-8")
    written = []
    for path in _notebooks(names, root):
        target = folder / "source" / path.stem / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.nbgrader_course", description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="the nbgrader course folder to write (created if missing)")
    parser.add_argument("notebooks", nargs="*", help=f"numbers like 01 (default: {' '.join(GRADED)})")
    args = parser.parse_args(argv)
    for path in write_course(args.folder, args.notebooks):
        print(f"assignment {path.parent.name}: {path}")
    print(f"next: cd {args.folder} && nbgrader generate_assignment NAME (see tools/nbgrader_course.py)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
