"""nbgrader: the committed notebooks carry its metadata, `make student` does not change with it, and
nbgrader turns notebook 01 into an assignment that it grades as a teacher would expect."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tools.build_notebooks import student_notebook
from tools.nbgrader_cells import (
    EXERCISE_POINTS,
    GRADED,
    PREDICTION_POINTS,
    NbgraderCellError,
    nbgrader_metadata,
)

nbgrader = pytest.importorskip("nbgrader")  # a dev dependency (pyproject's [dev])

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
GRADED_NOTEBOOKS = [p for p in NOTEBOOKS if p.name[:2] in GRADED]
ASSIGNMENT = "01-convolution-arithmetic"


def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


@pytest.mark.parametrize("path", GRADED_NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_the_answer_check_and_question_cells_carry_valid_nbgrader_metadata(path):
    from nbgrader.nbgraderformat import MetadataValidator

    notebook = nbformat.read(path, as_version=4)
    MetadataValidator().validate_nb(notebook)  # raises on a bad schema or a duplicate grade id
    summary = next(i for i, c in enumerate(notebook.cells) if c.source.startswith("## Summary"))
    checks = [(i, c) for i, c in enumerate(notebook.cells) if c.source.startswith("check_")]
    assert checks and all(_meta(c).get("grade") and _meta(c).get("locked") for _, c in checks)
    assert all(_meta(c)["points"] == (PREDICTION_POINTS if i < summary else EXERCISE_POINTS) for i, c in checks)
    assert sum(i < summary for i, _ in checks) >= 2, "at least two predictions before the summary"
    answers = [c for c in notebook.cells if "solution" in c.metadata.get("tags", [])]
    assert all(_meta(c).get("solution") for c in answers)
    assert all(not _meta(c).get("solution") for c in notebook.cells if c not in answers)
    # every check follows its answer, and the question before the answer is read-only
    for index, _ in checks:
        assert notebook.cells[index - 1] in answers
        assert _meta(notebook.cells[index - 2]).get("locked")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_make_student_writes_the_same_with_or_without_nbgrader_metadata(path):
    notebook = nbformat.read(path, as_version=4)
    bare = copy.deepcopy(notebook)
    for cell in bare.cells:
        cell.metadata.pop("nbgrader", None)
    assert student_notebook(notebook, path.name) == student_notebook(bare, path.name)
    assert all("nbgrader" not in c.metadata for c in student_notebook(notebook, path.name).cells)


def test_an_answer_without_its_check_is_refused():
    cells = [nbformat.v4.new_markdown_cell("**1. Task.**"),
             nbformat.v4.new_code_cell("# BEGIN SOLUTION\nx = 1\n# END SOLUTION", metadata={"tags": ["solution"]}),
             nbformat.v4.new_code_cell("print(x)")]
    with pytest.raises(NbgraderCellError, match="put the check right after the answer"):
        nbgrader_metadata(cells)


def _run(command: list[str], cwd: Path) -> str:
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    env.pop("COURSE_GRADING", None)  # the course folder's nbgrader_config.py sets it, for nbgrader only
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ERROR" not in done.stderr, done.stderr  # nbgrader logs a broken config and goes on
    return done.stderr


def _submit(course: Path, learner: str, answers: dict[str, str]) -> None:
    """A learner's notebook: the released one with ``answers`` (grade id → source) typed in."""
    released = nbformat.read(course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    for cell in released.cells:
        if _meta(cell).get("grade_id") in answers:
            cell.source = answers[_meta(cell)["grade_id"]]
    folder = course / "submitted" / learner / ASSIGNMENT
    folder.mkdir(parents=True)
    nbformat.write(released, folder / f"{ASSIGNMENT}.ipynb")


def test_nbgrader_generates_notebook_01_as_make_student_does_and_autogrades_it(tmp_path):
    """Reference answers get full points, stubs zero, one usual slip loses that exercise's points.

    Two learners, so that nbgrader runs the notebook twice, not three times: "slip" answers
    everything with the reference solutions but one, which forgets the formula's + 1; "stubs"
    answers only that one, rightly, and leaves every other stub as released. Every reference answer
    is then graded once, and every stub but one.

    nbgrader runs in subprocesses: its configuration sets COURSE_GRADING=1 in the environment of
    the process that reads it, which must never be this test process."""
    from nbgrader.api import Gradebook

    from tools.nbgrader_course import write_course

    course = tmp_path / "course"
    (source,) = write_course(course, ["01"], root=ROOT)
    _run([sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT], course)

    released = nbformat.read(course / "release" / ASSIGNMENT / source.name, as_version=4)
    committed = nbformat.read(source, as_version=4)
    student = student_notebook(committed, source.name)
    assert [c.source for c in released.cells] == [c.source for c in student.cells]

    reference = {_meta(c)["grade_id"]: c.source for c in committed.cells if _meta(c).get("solution")}
    slip = reference["answer_output_size"].replace("// stride + 1", "// stride")  # the + 1 forgotten
    assert slip != reference["answer_output_size"]
    _submit(course, "slip", dict(reference, answer_output_size=slip))
    _submit(course, "stubs", {"answer_output_size": reference["answer_output_size"]})
    _run([sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT], course)

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {}
        for learner in ("slip", "stubs"):
            graded = gradebook.find_submission_notebook(source.stem, ASSIGNMENT, learner)
            scores[learner] = {g.cell.name: (g.score, g.max_score) for g in graded.grades
                               if g.cell.name.startswith("check_")}
    full = {name: maximum for name, (_, maximum) in scores["slip"].items()}
    assert len(full) >= 5 and min(full.values()) > 0  # the predictions and the exercises
    assert {name: score for name, (score, _) in scores["slip"].items()} == dict(full, check_output_size=0)
    assert {name: score for name, (score, _) in scores["stubs"].items()} == dict(
        dict.fromkeys(full, 0), check_output_size=full["check_output_size"])
    shutil.rmtree(course)
