"""nbval's instructions are cell tags, never code a learner reads (tools/nbval_tags.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tools.nbval_tags import MARKERS, move_markers_to_tags, nbval_tags
from tools.notebook_chrome import notebook_paths

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = notebook_paths(ROOT)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_no_code_cell_shows_an_nbval_marker(path):
    notebook = nbformat.read(path, as_version=4)
    marked = [i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and "NBVAL" in c.source]
    assert not marked, f"{path.name}: cells {marked} hold an NBVAL comment; run `make chrome` to move it into a tag"


def test_the_builds_and_slides_show_no_marker_either(tmp_path):
    from tools.build_notebooks import build

    written = build(ROOT / "notebooks", tmp_path)
    for path in [*written["student"], *written["instructor"]]:
        cells = nbformat.read(path, as_version=4).cells
        assert not any("NBVAL" in c.source for c in cells if c.cell_type == "code"), path


def test_a_marker_line_becomes_its_tag_and_nothing_else_changes():
    cells = [
        nbformat.v4.new_code_cell("# NBVAL_IGNORE_OUTPUT\nhistory = fit(model)  # trains\nprint(history)"),
        nbformat.v4.new_code_cell("x = 1\n  #   NBVAL_SKIP  \ny = 2"),
        nbformat.v4.new_code_cell("# a comment that mentions NBVAL_IGNORE_OUTPUT is kept\nz = 3"),
        nbformat.v4.new_markdown_cell("# NBVAL_IGNORE_OUTPUT"),
    ]
    cells[0].metadata["tags"] = ["solution"]
    assert move_markers_to_tags(cells) == 2
    assert cells[0].source == "history = fit(model)  # trains\nprint(history)"
    assert cells[0].metadata["tags"] == ["solution", "nbval-ignore-output"]
    assert cells[1].source == "x = 1\ny = 2" and nbval_tags(cells[1]) == ["nbval-skip"]
    assert "NBVAL_IGNORE_OUTPUT is kept" in cells[2].source and nbval_tags(cells[2]) == []
    assert cells[3].source == "# NBVAL_IGNORE_OUTPUT"  # markdown is not nbval's business
    assert move_markers_to_tags(cells) == 0  # idempotent


def test_our_tags_are_the_ones_nbval_reads():
    from nbval.plugin import metadata_tags

    assert set(MARKERS.values()) <= set(metadata_tags)
    assert metadata_tags["nbval-ignore-output"] == ("check", False)


def _notebook(tmp_path: Path, tags: list[str]) -> Path:
    """A notebook whose one cell prints something different on every run."""
    cell = nbformat.v4.new_code_cell("import time\nprint(time.perf_counter_ns())")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="12345\n")]
    cell.execution_count = 1
    cell.metadata["tags"] = tags
    path = tmp_path / f"tagged-{'-'.join(tags) or 'none'}.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), path)
    return path


@pytest.mark.parametrize("tags, passes", [(["nbval-ignore-output"], True), ([], False)])
def test_nbval_ignores_the_output_of_a_tagged_cell_and_compares_the_others(tmp_path, tags, passes):
    path = _notebook(tmp_path, tags)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
                           "--nbval-current-env", str(path)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=180)
    assert (done.returncode == 0) is passes, done.stdout[-2000:]
