"""In class, no dead time: an instructor runs the course once before class, and in class the cells
that train (05's first CNN and degradation runs, 06's stages) reuse what that run saved.

Each notebook is executed twice, in fast mode, offline, into a fresh data folder; the second run
must report that it reused every saved run and must train nothing. Notebook 06 also switches to
other flowers in between: its runs are named after the data they used, so the other flowers train
in a folder of their own, and going back to the first ones trains nothing."""

from __future__ import annotations

import json
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
}
CAPSTONE = "06-flowers-transfer-learning"


def run(path: Path, env: dict[str, str] | None = None) -> str:
    """Execute a notebook; return everything its cells printed."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    saved = {name: os.environ.get(name) for name in env or {}}
    os.environ.update(env or {})  # the kernel inherits this process's environment
    try:
        client.execute()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
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


def test_06_on_other_flowers_trains_apart_and_going_back_trains_nothing(tmp_path, monkeypatch):
    from course_utils.data.synthetic_flowers import make_synthetic_flowers

    monkeypatch.setenv("COURSE_FAST", "1")
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.delenv("COURSE_FLOWERS_DIR", raising=False)
    data = tmp_path / "data"
    monkeypatch.setenv("COURSE_DATA_DIR", str(data))
    copy = tmp_path / "notebooks" / f"{CAPSTONE}.ipynb"
    copy.parent.mkdir()
    shutil.copy(ROOT / "notebooks" / f"{CAPSTONE}.ipynb", copy)
    # other flowers in the same data folder: other photos, and only half the classes
    other = make_synthetic_flowers(data / "other-flowers", image_size=64, per_class=(4, 2, 2), seed=1, progress=False)
    for split in ("train", "valid", "test"):
        for folder in (other / split).iterdir():
            if int(folder.name) > 6:
                shutil.rmtree(folder)
    names = json.loads((other / "cat_to_name.json").read_text())
    (other / "cat_to_name.json").write_text(json.dumps({k: v for k, v in names.items() if int(k) <= 6}))

    first = run(copy)  # the synthetic default
    assert "epoch 1/" in first and "generated: 12 classes" in first
    runs = {p.name for p in (data / "runs").iterdir() if p.name.startswith("06-flowers-")}
    switched = run(copy, {"COURSE_FLOWERS_DIR": str(other)})
    assert "epoch 1/" in switched and "folder: 6 classes" in switched, "other flowers must train, in their own folder"
    assert len({p.name for p in (data / "runs").iterdir() if p.name.startswith("06-flowers-")} - runs) == 1
    back = run(copy)
    assert "Resuming from" in back and "epoch 1/" not in back, f"going back trained again:\n{back[-2000:]}"
