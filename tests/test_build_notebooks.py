"""``make student``: the learners' copy runs top to bottom and says "not done yet"; the
instructors' copy keeps every solution; every notebook's exercises are well formed."""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest

from tools.build_notebooks import BuildError, build, stub_solution

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
CHECKED = NOTEBOOKS
"""The notebooks whose exercises come with checkers: every one."""
CHECK = re.compile(r"^check_\w+\(")


def _exercise_cells(notebook: nbformat.NotebookNode) -> list:
    summary = max(i for i, c in enumerate(notebook.cells) if c.source.startswith("## Summary"))
    return notebook.cells[summary + 1 :]


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: p.stem[:2])
def test_each_notebook_ends_with_three_or_four_exercises_two_of_them_checked(path):
    cells = _exercise_cells(nbformat.read(path, as_version=4))
    assert cells and cells[0].source.startswith("## Exercises")
    tasks = [c for c in cells if c.cell_type == "markdown" and re.match(r"\*\*\d\. ", c.source)]
    checks = [c for c in cells if c.cell_type == "code" and CHECK.match(c.source)]
    solutions = [c for c in cells if "solution" in c.metadata.get("tags", [])]
    assert 3 <= len(tasks) <= 4 and len(checks) >= 2
    assert len(solutions) >= len(tasks)  # a reference solution or a model answer for each


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    return out, build(ROOT / "notebooks", out)


def test_both_builds_hold_every_notebook(built):
    out, written = built
    assert [p.name for p in written["student"]] == [p.name for p in NOTEBOOKS]
    assert [p.name for p in written["instructor"]] == [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: p.stem[:2])
def test_the_student_copy_has_stubs_and_no_outputs_and_the_instructor_copy_everything(built, path):
    out, _ = built
    source = nbformat.read(path, as_version=4)
    student = nbformat.read(out / "student" / path.name, as_version=4)
    instructor = nbformat.read(out / "instructor" / path.name, as_version=4)
    text = "\n".join(c.source for c in student.cells)
    assert "BEGIN SOLUTION" not in text and "Model answer" not in text and "Instructors' note" not in text
    assert all(c.outputs == [] for c in student.cells if c.cell_type == "code")
    assert all("solution" not in c.metadata.get("tags", []) for c in student.cells)
    stubs = [c for c in student.cells if c.cell_type == "code" and "answer" in c.metadata.get("tags", [])]
    assert stubs and all("raise NotDone()" in c.source or " = ...  #" in c.source for c in stubs)
    # the instructors' copy: the committed cells and outputs, after a banner
    assert "Instructor copy" in instructor.cells[1].source
    kept = [c for i, c in enumerate(instructor.cells) if i != 1]
    assert [c.source for c in kept] == [c.source for c in source.cells]
    assert [c.get("outputs") for c in kept] == [c.get("outputs") for c in source.cells]


def _predictions(notebook: nbformat.NotebookNode) -> list[int]:
    """Indices of the answer cells before the summary: the predictions."""
    summary = max(i for i, c in enumerate(notebook.cells) if c.source.startswith("## Summary"))
    return [i for i, c in enumerate(notebook.cells[:summary]) if c.cell_type == "code"
            and {"solution", "answer"} & set(c.metadata.get("tags", []))]


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: p.stem[:2])
def test_the_student_copy_keeps_each_prediction_as_a_question(built, path):
    out, _ = built
    source = nbformat.read(path, as_version=4)
    student = nbformat.read(out / "student" / path.name, as_version=4)
    asked = _predictions(student)
    assert len(asked) == len(_predictions(source))
    if path.name[:2] in {"01", "02", "03", "04", "07"}:
        assert len(asked) >= 2, "predict, then run: two or three per notebook"
    for index in asked:
        question, stub, check = student.cells[index - 1], student.cells[index], student.cells[index + 1]
        assert question.cell_type == "markdown" and "**Predict, then run.**" in question.source
        assert stub.source.endswith(" = ...  # your answer here") and CHECK.match(check.source)


def test_the_student_copy_runs_top_to_bottom_and_says_not_done_yet(built, monkeypatch):
    from nbclient import NotebookClient

    out, _ = built
    path = out / "student" / "01-convolution-arithmetic.ipynb"
    notebook = nbformat.read(path, as_version=4)
    monkeypatch.setenv("COURSE_FAST", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()  # raises on any error
    checks = [c for c in _exercise_cells(notebook) if c.cell_type == "code" and CHECK.match(c.source)]
    printed = ["".join(o.get("text", "") for o in c.outputs) for c in checks]
    assert len(checks) >= 2
    assert all(text.startswith("… not done yet") for text in printed), printed


@pytest.mark.parametrize("source, expected", [
    ("def f(x):\n    # BEGIN SOLUTION\n    return x\n    # END SOLUTION",
     "def f(x):\n    raise NotDone()"),
    ("# BEGIN SOLUTION\nsize = 3\nanswer = size + 1\n# END SOLUTION", "answer = ...  # your answer here"),
    ("x = 1\n# BEGIN SOLUTION\nfor i in range(3):\n    x += i\ntotal = x\n# END SOLUTION",
     "x = 1\ntotal = ...  # your answer here"),
])
def test_a_stub_replaces_the_solution_region(source, expected):
    stubbed = stub_solution(source)
    assert expected in stubbed and "size" not in stubbed and "range" not in stubbed
    assert ("from course_utils.exercises import NotDone" in stubbed) == ("raise NotDone()" in stubbed)
    compile(stubbed, "stub", "exec")


@pytest.mark.parametrize("source, message", [
    ("answer = 1", "needs a '# BEGIN SOLUTION'"),
    ("# BEGIN SOLUTION\nanswer = 1", "has no matching"),
    ("answer = 1\n# END SOLUTION", "without"),
    ("# BEGIN SOLUTION\ndef f():\n    return 1\n# END SOLUTION", "inside the body of 'f'"),
    ("# BEGIN SOLUTION\nprint(1)\n# END SOLUTION", "must assign its answer"),
    ("# BEGIN SOLUTION\nanswer = (\n# END SOLUTION", "does not parse"),
])
def test_a_malformed_solution_cell_is_refused_with_the_reason(source, message):
    with pytest.raises(BuildError, match=re.escape(message)):
        stub_solution(source)
