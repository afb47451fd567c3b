"""Write the learners' and the instructors' copies of the notebooks: ``make student``.

One source, two builds. The committed notebooks carry the reference solutions; this writes

- ``build/student/``: every cell tagged ``solution`` replaced by a stub, cells tagged
  ``instructor`` left out, all outputs cleared. The stubs make a student notebook run top to bottom:
  a function body becomes ``raise NotDone()``, which the checkers report as "not done yet".
  nbgrader's cell metadata (``tools/nbgrader_cells.py``) is left out too, so that this copy is
  the same whether or not the notebooks carry it;
- ``build/instructor/``: the notebooks as committed (solutions, teaching notes, the outputs of
  the full run), with a banner saying which copy this is.

In a ``solution`` code cell the solution sits between two marker lines, which the student build
replaces (everything else in the cell, such as a ``def`` line and its docstring, stays)::

    def output_size(size, kernel_size, stride=1, padding=0, dilation=1):
        # BEGIN SOLUTION
        return (size - dilation * (kernel_size - 1) - 1 + 2 * padding) // stride + 1
        # END SOLUTION

An indented region becomes ``raise NotDone()`` at its indentation. A region at the top level
becomes ``NAME = ...`` for every name it assigns and does not read itself, i.e. its answers
(``strides = [1]`` → ``strides = ...``; a helper variable used on the way disappears), which the
checkers also report as "not done yet". A ``solution`` markdown cell (a model answer to an
open question) becomes an empty "Your answer" cell.

nbgrader reads the same markers (its ``ClearSolutions`` looks for lines *containing*
``BEGIN SOLUTION`` and ``END SOLUTION``), and the course's nbgrader configuration gives nbgrader
these stubs too (:func:`student_cell`, used by ``tools/nbgrader_course.py``).

Both editions: the English notebooks go to ``build/student/`` and ``build/instructor/``, the
Chinese ones (``notebooks/zh_CN/``, written by ``python -m tools.i18n build``) to
``build/student/zh_CN/`` and ``build/instructor/zh_CN/``, with the banner, the stubs' comments and
the answer placeholder in Chinese (a notebook's language is its ``metadata.i18n.language``).

Usage: ``python -m tools.build_notebooks [--source notebooks] [--out build] [NOTEBOOK ...]``
"""

from __future__ import annotations

import argparse
import ast
import copy
import re
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import nbformat

__all__ = ["WORDS", "BuildError", "build", "build_editions", "instructor_notebook", "student_cell", "student_notebook",
           "stub_solution"]

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"
SOLUTION_TAG, INSTRUCTOR_TAG, ANSWER_TAG = "solution", "instructor", "answer"
NBGRADER = "nbgrader"  # the key of nbgrader's cell metadata
WORDS = {
    "en": {
        "import": "from course_utils.exercises import NotDone  # what the stubs raise until you answer\n\n",
        "code here": "# your code here, in place of this line",
        "answer here": "# your answer here",
        "placeholder": "**Your answer:** *(double-click this cell and write it here)*",
        "banner": "> **Instructor copy.** The reference solutions are in place (cells tagged `solution`) and the "
        "outputs are those of a full run. The learners' copy, written by `make student` to "
        "`build/student/`, has a stub in each solution cell and no outputs.",
    },
    "zh_CN": {
        "import": "from course_utils.exercises import NotDone  # 你作答之前，占位代码会抛出它\n\n",
        "code here": "# 在这里写你的代码，替换这一行",
        "answer here": "# 在这里写你的答案",
        "placeholder": "**你的答案：** *（双击这一格，在这里写）*",
        "banner": "> **教师版。** 参考解答都在（标记为 `solution` 的格子），输出来自一次完整运行。"
        "学生版由 `make student` 写到 `build/student/zh_CN/`，每个解答格里是待填的占位，没有输出。",
    },
}
"""What the builds write, in each edition's language."""


class BuildError(ValueError):
    """A solution cell that the student build cannot turn into a stub; the message says why."""


def _tags(cell: dict) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


class _Reads(ast.NodeVisitor):
    """The names a piece of code reads, leaving out the targets of its assignments."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.names.add(node.id)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)


def _answer_names(region: str, where: str) -> list[str]:
    """The names a top-level solution assigns and does not read itself: its answers."""
    try:
        tree = ast.parse(textwrap.dedent(region))
    except SyntaxError as error:
        raise BuildError(f"{where}: the solution does not parse ({error.msg}).") from None
    assigned: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            raise BuildError(f"{where}: put the markers inside the body of {node.name!r}, not around it.")
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
        for target in targets:
            for name in ast.walk(target):
                if isinstance(name, ast.Name) and name.id not in assigned:
                    assigned.append(name.id)
    reads = _Reads()
    reads.visit(tree)
    answers = [name for name in assigned if name not in reads.names]
    if not answers:
        raise BuildError(f"{where}: a top-level solution must assign its answer to a name that it "
                         f"does not read itself.")
    return answers


def stub_solution(source: str, where: str = "cell", language: str = "en") -> str:
    """The student version of one ``solution`` code cell's source (see the module docstring)."""
    words = WORDS[language]
    lines = source.splitlines()
    out: list[str] = []
    region: list[str] | None = None
    indent = ""
    needs_import = False
    for number, line in enumerate(lines, start=1):
        marker = line.strip()
        if marker == BEGIN:
            if region is not None:
                raise BuildError(f"{where}, line {number}: {BEGIN!r} inside another solution region.")
            region, indent = [], line[: len(line) - len(line.lstrip())]
        elif marker == END:
            if region is None:
                raise BuildError(f"{where}, line {number}: {END!r} without {BEGIN!r}.")
            if indent:
                out.append(f"{indent}raise NotDone()  {words['code here']}")
                needs_import = True
            else:
                names = _answer_names("\n".join(region), where)
                out += [f"{name} = ...  {words['answer here']}" for name in names]
            region = None
        elif region is not None:
            region.append(line)
        else:
            out.append(line)
    if region is not None:
        raise BuildError(f"{where}: {BEGIN!r} has no matching {END!r}.")
    if len(out) == len(lines):
        raise BuildError(f"{where}: a solution code cell needs a {BEGIN!r} ... {END!r} region.")
    if needs_import:
        out.insert(0, words["import"])
    return "\n".join(out)


def _clean(cell: dict, keep_outputs: bool) -> None:
    cell.get("metadata", {}).pop("execution", None)
    if cell["cell_type"] == "code" and not keep_outputs:
        cell["outputs"] = []
        cell["execution_count"] = None


def _language(notebook: nbformat.NotebookNode) -> str:
    return notebook.metadata.get("i18n", {}).get("language", "en")


def student_cell(cell: nbformat.NotebookNode, where: str = "cell", language: str = "en") -> nbformat.NotebookNode | None:
    """One cell as learners get it, changed in place: ``None`` for an ``instructor`` cell (left
    out), a stub for a ``solution`` cell (tagged ``answer`` instead), any other cell as it is."""
    tags = _tags(cell)
    if INSTRUCTOR_TAG in tags:
        return None
    if SOLUTION_TAG in tags:
        cell.metadata["tags"] = [t for t in tags if t != SOLUTION_TAG] + [ANSWER_TAG]
        if cell.cell_type == "code":
            cell.source = stub_solution(cell.source, where=where, language=language)
        else:
            cell.source = WORDS[language]["placeholder"]
    return cell


def student_notebook(notebook: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """The learners' copy: solutions stubbed, instructor notes and nbgrader's metadata removed,
    outputs cleared."""
    student = copy.deepcopy(notebook)
    language = _language(notebook)
    cells = []
    for index, cell in enumerate(student.cells):
        if student_cell(cell, where=f"{name}, cell {index}", language=language) is None:
            continue
        cell.metadata.pop(NBGRADER, None)
        _clean(cell, keep_outputs=False)
        cells.append(cell)
    student.cells = cells
    return student


def instructor_notebook(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The instructors' copy: everything as committed, with a banner after the title cell."""
    instructor = copy.deepcopy(notebook)
    for cell in instructor.cells:
        _clean(cell, keep_outputs=True)
    instructor.cells.insert(1, nbformat.v4.new_markdown_cell(WORDS[_language(notebook)]["banner"]))
    return instructor


def _notebooks(source: Path, names: Sequence[str]) -> list[Path]:
    paths = sorted(source.glob("[0-9][0-9]-*.ipynb"))
    if names:
        chosen = [p for p in paths if p.name in names or p.stem in names or p.name[:2] in names]
        unknown = [n for n in names if not any(n in (p.name, p.stem, p.name[:2]) for p in chosen)]
        if unknown:
            raise BuildError(f"no notebook {unknown} in {source}; choose from {[p.name for p in paths]}.")
        paths = chosen
    if not paths:
        raise BuildError(f"no notebooks (NN-name.ipynb) in {source}.")
    return paths


def build(source: Path = ROOT / "notebooks", out: Path = ROOT / "build",
          names: Sequence[str] = (), subfolder: str = "") -> dict[str, list[Path]]:
    """Write ``out/student/`` and ``out/instructor/`` (each ``/subfolder``) from the notebooks in ``source``."""
    written: dict[str, list[Path]] = {"student": [], "instructor": []}
    for path in _notebooks(Path(source), names):
        notebook = nbformat.read(path, as_version=4)
        for kind, made in (("student", student_notebook(notebook, path.name)),
                           ("instructor", instructor_notebook(notebook))):
            nbformat.validate(made)
            target = Path(out) / kind / subfolder / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(made, target)
            written[kind].append(target)
    return written


def build_editions(source: Path = ROOT / "notebooks", out: Path = ROOT / "build",
                   names: Sequence[str] = ()) -> dict[str, list[Path]]:
    """Both editions: ``source`` into ``out/<kind>/``, and each ``source/<language>/`` into ``out/<kind>/<language>/``.

    ``names`` choose English notebooks; an edition builds those of them it holds.
    """
    written = build(source, out, names)
    for folder in sorted(p for p in Path(source).iterdir() if p.is_dir() and re.fullmatch(r"[a-z]{2}(_[A-Z]{2})?", p.name)):
        held = sorted(folder.glob("[0-9][0-9]-*.ipynb"))
        chosen = [n for n in names if any(n in (p.name, p.stem, p.name[:2]) for p in held)] if names else []
        if not held or (names and not chosen):
            continue
        for kind, paths in build(folder, out, chosen, subfolder=folder.name).items():
            written[kind] += paths
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="names like 01 or 01-convolution-arithmetic (default: all)")
    parser.add_argument("--source", type=Path, default=ROOT / "notebooks")
    parser.add_argument("--out", type=Path, default=ROOT / "build")
    args = parser.parse_args(argv)
    try:
        written = build_editions(args.source, args.out, args.notebooks)
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for kind, paths in written.items():
        for folder in sorted({p.parent for p in paths}):
            print(f"{kind}: {sum(p.parent == folder for p in paths)} notebook(s) in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
