"""In class, no dead time: an instructor runs the course once before class, and in class the cells
that train (05's first CNN and degradation runs, 06's stages) reuse what that run saved.

Each notebook is executed twice, in fast mode, offline, into a fresh data folder; the second run
must report that it reused every saved run and must train nothing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent

# notebook -> (what a reusing cell prints, what the cells that train print)
REUSE = {
    "05-classic-architectures": ("reused", ("trained now", "trained in ")),
    "06-flowers-transfer-learning": ("Resuming from", ("epoch 1/",)),
}


def run(path: Path) -> str:
    """Execute a notebook; return everything its cells printed."""
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return "\n".join(
        output.get("text", "")
        for cell in notebook.cells if cell.cell_type == "code"
        for output in cell.get("outputs", []) if output.get("output_type") == "stream"
    )


@pytest.mark.parametrize("name", list(REUSE))
def test_a_second_run_reuses_what_the_first_one_trained(name, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    copy = tmp_path / "notebooks" / f"{name}.ipynb"
    copy.parent.mkdir()
    shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", copy)
    reused, trained = REUSE[name]

    first = run(copy)
    assert all(t in first for t in trained) and os.listdir(tmp_path / "data" / "runs"), "the first run must train"
    second = run(copy)
    assert reused in second, f"the second run of {name} did not reuse its saved runs"
    assert not any(t in second for t in trained), f"the second run of {name} trained again:\n{second[-2000:]}"
