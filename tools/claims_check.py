"""``python -m tools.claims_check [NOTEBOOK...]``: every figure in a notebook's prose has a source.

A notebook's markdown may state a figure (a percentage, a decimal, a time, a ratio, a rounded
count, a size: :mod:`tools.figures` says exactly what is and is not one) only when it is

(a) a fact of the notes: it appears, with its unit, in ``../shared/SYLLABUS.md`` or in the notes'
    text ``../shared/seed/cnn-course-notes-zh.txt`` (up to the page's "相关文章", the related
    articles that are not the notes): ``8 hours`` (8小时), ``3 days`` (3天), ``p=0.5`` (0.5, 50 %);
(b) printed by a code cell of the same notebook (stdout, ``text/plain``, ``text/html``,
    ``text/markdown``), allowing rounding and a change of unit: printed ``0.875`` allows
    ``87.5 %``, ``87 %`` and ``88 %``; printed ``176 s`` allows ``about 3 minutes``;
(c) a literal of a code cell's source, outside comments and strings (a setting, ``lr=3e-3``);
(d) a time of the notebook's own row of ``notebooks/times.json`` (:mod:`tools.run_times`), or
    its "about N min on a laptop CPU" figure (the generated run-time line states it); 00, whose
    generated course table lists every notebook, may state every row's "about N min" and teaching
    time, and no other row's figure.

Rounding is tight: a figure written with ``d`` decimals must lie within half a unit of its last
digit of a source (``87.5 %`` ← 87.45-87.55 %; ``3 min`` ← 150-210 s), except that after
``about`` an integer's trailing zeros are not significant (``about 20×`` ← 15-25). Close is not
enough: ``3 min`` is not a rounding of 215 s.

A date or a load average in a notebook's prose is always a violation: when and under what load
a notebook was measured belongs to ``benchmarks/RESULTS.md`` ("Notebook run times"), and the time
itself to ``notebooks/times.json``. There is no allow-list: where prose must give a figure, a cell
prints it first.

Each violation is printed with the notebook, the cell's index and id, the figure and its
sentence; the exit status is 1 when there is any. Without arguments it checks every
``notebooks/NN-*.ipynb``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import nbformat

from tools.figures import (
    Figure,
    code_literals,
    prose_figures,
    sentence_at,
    source_figures,
    stands_for,
)
from tools.run_times import TIMES_PATH, NotebookTimes, load_times, stated_times

__all__ = [
    "COURSE_MAP",
    "NOTES",
    "Violation",
    "check_notebook",
    "main",
    "notes_facts",
    "printed_figures",
]

ROOT = Path(__file__).resolve().parent.parent
NOTES = (ROOT.parent / "shared" / "SYLLABUS.md", ROOT.parent / "shared" / "seed" / "cnn-course-notes-zh.txt")
NOTES_END = "相关文章"
COURSE_MAP = "00-start-here"
"""The notebook whose course table lists every notebook with its "about N min"."""
PRINTED_TYPES = ("text/plain", "text/html", "text/markdown")
_REASONS = {
    "date": "a date in prose: when a notebook was measured belongs in benchmarks/RESULTS.md, not in the notebook",
    "load": "a load average in prose: how busy the machine was belongs in benchmarks/RESULTS.md, not in the notebook",
}


@dataclass(frozen=True)
class Violation:
    """A figure stated in a markdown cell without a source."""

    notebook: str
    cell: int
    cell_id: str
    figure: Figure
    sentence: str

    @property
    def reason(self) -> str:
        """Why the figure is not allowed."""
        if self.figure.kind in _REASONS:
            return _REASONS[self.figure.kind]
        reason = "not printed by a cell of this notebook, not a literal of its code, not a fact of the notes"
        if self.figure.kind == "time":
            reason += f", not this notebook's time in {TIMES_PATH.parent.name}/{TIMES_PATH.name}"
        return reason

    def __str__(self) -> str:
        return (f"{self.notebook} cell {self.cell} (id {self.cell_id}): {self.figure.kind} "
                f"{self.figure.text!r}: {self.reason}\n    “{self.sentence}”")


def notes_facts(paths: Iterable[Path] = NOTES) -> list[Figure]:
    """Every number of the syllabus and the notes' text, with its unit (English or Chinese)."""
    facts: list[Figure] = []
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: the claims check needs the notes (../shared next to the repository)")
        facts += source_figures(path.read_text(encoding="utf-8").split(NOTES_END)[0])
    return facts


def _text(value: str | list[str]) -> str:
    return "".join(value) if isinstance(value, list) else value


def printed_figures(notebook: nbformat.NotebookNode) -> list[Figure]:
    """Every number the code cells printed (stdout and text outputs; stderr, images and errors not)."""
    figures: list[Figure] = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.get("output_type") == "stream" and output.get("name") == "stdout":
                figures += source_figures(_text(output.get("text", "")))
            for kind in PRINTED_TYPES:
                if kind in output.get("data", {}):
                    figures += source_figures(_text(output["data"][kind]), html_text=kind == "text/html")
    return figures


def _times(name: str, rows: list[NotebookTimes]) -> list[Figure]:
    return [Figure("time", f"{t:g} s", t, 6) for t in stated_times(name, rows, course_map=name == COURSE_MAP)]


def check_notebook(
    path: Path, facts: list[Figure] | None = None, rows: list[NotebookTimes] | None = None
) -> list[Violation]:
    """The figures of ``path``'s markdown cells that have no source, in cell order."""
    facts = notes_facts() if facts is None else facts
    rows = load_times() if rows is None else rows
    notebook = nbformat.read(path, as_version=4)
    printed = printed_figures(notebook)
    literals = [f for c in notebook.cells if c.cell_type == "code" for f in code_literals(_text(c.source))]
    times = _times(path.stem, rows)
    violations = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "markdown":
            continue
        source = _text(cell.source)
        for figure in prose_figures(source):
            if figure.kind not in _REASONS and (
                any(stands_for(figure, s, "printed") for s in printed)
                or any(stands_for(figure, s, "literal") for s in literals)
                or any(stands_for(figure, s, "fact") for s in facts + times)
            ):
                continue
            sentence = sentence_at(source, figure.start, figure.end)
            violations.append(Violation(path.name, index, cell.get("id", "-"), figure, sentence))
    return violations


def main(argv: list[str] | None = None) -> int:
    """Check the notebooks named (default: all of ``notebooks/``); exit 1 on any violation."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/NN-*.ipynb")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
    facts, rows = notes_facts(), load_times()
    violations = [v for path in paths for v in check_notebook(path, facts, rows)]
    for violation in violations:
        print(violation)
    print(f"{len(violations)} figure(s) without a source in {len(paths)} notebook(s)")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
