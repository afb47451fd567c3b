"""The committed notebooks are clean: small, no timestamps, one ordered run, finished progress bars.

These read the .ipynb files only (nothing is executed). A notebook fails them when it was
committed from a partial or interactive run, or without ``tools/clean_notebook.py`` (see
CONTRIBUTING.md, "Committing a notebook").
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
SIZE_BUDGET = 500_000
"""500 KB as a learner's download counts it (decimal): the budget CONTRIBUTING states."""
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"

PERCENT = re.compile(r"(\d{1,3})%\|")
"""tqdm's ``desc: 42%|████      | 21/50``."""
NEVER_MOVED = re.compile(r": 0\w* \[00:00, \?\w*/s\]")
"""A bar without a total that was displayed and never moved: ``batches: 0batch [00:00, ?batch/s]``."""


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _texts(output: dict) -> list[str]:
    """Every text an output shows: streams, and the text/plain of results, displays and widgets."""
    if output.get("output_type") == "stream":
        text = output.get("text", "")
        return ["".join(text) if isinstance(text, list) else text]
    plain = output.get("data", {}).get("text/plain")
    if plain is None:
        return []
    return ["".join(plain) if isinstance(plain, list) else plain]


def unfinished_bars(notebook: dict) -> list[str]:
    """Descriptions of the progress bars in ``notebook`` that stand below 100 %."""
    found = []
    for index, cell in enumerate(notebook.get("cells", [])):
        for output in cell.get("outputs", []):
            for text in _texts(output):
                for line in re.split(r"[\r\n]", text):  # a terminal bar redraws itself after \r
                    percents = [int(p) for p in PERCENT.findall(line)]
                    if any(p < 100 for p in percents) or NEVER_MOVED.search(line):
                        found.append(f"cell {index}: {line.strip()[:80]}")
    state = notebook.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for model_id, model in state.items():
        if model.get("model_name") == "FloatProgressModel":
            values = model.get("state", {})
            if (values.get("value") or 0) < (values.get("max") or 0):
                found.append(f"widget {model_id}: {values.get('value')}/{values.get('max')}")
    return found


@pytest.fixture(params=NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def notebook_path(request) -> Path:
    return request.param


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 6


def test_size_budget(notebook_path: Path):
    size = notebook_path.stat().st_size
    assert size < SIZE_BUDGET, (
        f"{notebook_path.name} is {size / 1024:.0f} KB (budget {SIZE_BUDGET // 1024} KB): draw figures "
        "smaller or at a lower dpi, and photo grids as JPEG (CONTRIBUTING.md, 'Figures')."
    )


def test_no_execution_timestamps(notebook_path: Path):
    stamped = [i for i, cell in enumerate(_load(notebook_path)["cells"]) if "execution" in cell.get("metadata", {})]
    assert not stamped, (
        f"{notebook_path.name}: cells {stamped} carry execution timestamps; run "
        f"`python tools/clean_notebook.py {notebook_path.relative_to(notebook_path.parents[1])}`."
    )


def test_one_run_top_to_bottom(notebook_path: Path):
    counts = [c.get("execution_count") for c in _load(notebook_path)["cells"] if c["cell_type"] == "code"]
    assert counts == list(range(1, len(counts) + 1)), (
        f"{notebook_path.name}: execution counts {counts} are not 1..{len(counts)}: commit the "
        "outputs of one full top-to-bottom run (CONTRIBUTING.md, 'Committing a notebook')."
    )


def test_progress_bars_are_finished(notebook_path: Path):
    unfinished = unfinished_bars(_load(notebook_path))
    assert not unfinished, (
        f"{notebook_path.name}: progress bars committed below 100 %: {unfinished[:5]}. Run "
        "`python tools/clean_notebook.py` on it after the full run."
    )


# The checker itself must be able to fail.

def _bar_output(text: str) -> dict:
    return {"output_type": "display_data", "data": {"text/plain": [text]}, "metadata": {}}


@pytest.mark.parametrize(
    ("text", "unfinished"),
    [
        ("epochs:   0%|          | 0/3 [00:00<?, ?epoch/s]", True),
        ("epochs:  67%|██████▋   | 2/3 [00:31<00:15, 15.6s/epoch]", True),
        ("batches: 0batch [00:00, ?batch/s]", True),
        ("epochs: 100%|██████████| 3/3 [00:47<00:00, 15.7s/epoch]", False),
        ("evaluate:  50%|█████     | 1/2\repaluate: 100%|██████████| 2/2", True),
        ("accuracy 95% | chance 10%", False),
    ],
)
def test_unfinished_bars_are_found(text, unfinished):
    notebook = {"cells": [{"cell_type": "code", "outputs": [_bar_output(text)]}]}
    assert bool(unfinished_bars(notebook)) is unfinished


def test_unfinished_widget_state_is_found():
    state = {"a": {"model_name": "FloatProgressModel", "state": {"value": 1.0, "max": 3.0}}}
    notebook = {"cells": [], "metadata": {"widgets": {WIDGET_STATE: {"state": state}}}}
    assert unfinished_bars(notebook)
    state["a"]["state"]["value"] = 3.0
    assert not unfinished_bars(notebook)


def _load_cleaner():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "tools" / "clean_notebook.py"
    spec = importlib.util.spec_from_file_location("clean_notebook", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _model(name: str, **state) -> dict:
    return {"model_name": name, "state": state}


def test_clean_notebook_finishes_bars_and_keeps_other_widgets():
    cleaner = _load_cleaner()
    state = {
        "bar": _model("HBoxModel", children=["IPY_MODEL_l", "IPY_MODEL_p", "IPY_MODEL_r"], layout="IPY_MODEL_lay"),
        "l": _model("HTMLModel", value="epochs:\u2007100%"),
        "p": _model("FloatProgressModel", value=3.0, max=3.0),
        "r": _model("HTMLModel", value="\u20073/3\u2007[00:47&lt;00:00]"),
        "lay": _model("LayoutModel"),
        "gone": _model("HBoxModel", children=["IPY_MODEL_l2", "IPY_MODEL_p2", "IPY_MODEL_r2"], layout="IPY_MODEL_hid"),
        "l2": _model("HTMLModel", value="batches:\u2007100%"),
        "p2": _model("FloatProgressModel", value=5.0, max=5.0),
        "r2": _model("HTMLModel", value=""),
        "hid": _model("LayoutModel", visibility="hidden"),
        "explorer": _model("VBoxModel", children=["IPY_MODEL_slider"]),
        "slider": _model("IntSliderModel", value=3),
    }

    def view(model_id: str, text: str) -> dict:
        return {"output_type": "display_data", "metadata": {},
                "data": {"text/plain": [text], "application/vnd.jupyter.widget-view+json": {"model_id": model_id}}}

    notebook = {
        "cells": [{"cell_type": "code", "metadata": {"execution": {"iopub.status.busy": "2026"}},
                   "outputs": [view("bar", "epochs:   0%|"), view("gone", "batches: 0batch [00:00, ?batch/s]"),
                               view("explorer", "VBox(...)")]}],
        "metadata": {"widgets": {WIDGET_STATE: {"version_major": 2, "state": state}}},
    }
    counts = cleaner.clean(notebook)
    outputs = notebook["cells"][0]["outputs"]
    assert counts["bars finished"] == 1 and counts["hidden bars removed"] == 1
    assert outputs[0]["data"] == {"text/plain": ["epochs: 100%|██████████| 3/3 [00:47<00:00]"]}
    assert len(outputs) == 2 and outputs[1]["data"]["text/plain"] == ["VBox(...)"]
    assert "execution" not in notebook["cells"][0]["metadata"]
    assert set(notebook["metadata"]["widgets"][WIDGET_STATE]["state"]) == {"explorer", "slider"}
    assert not unfinished_bars(notebook)


def test_clean_notebook_merges_a_print_flushed_in_pieces():
    cleaner = _load_cleaner()

    def stream(name: str, text) -> dict:
        return {"output_type": "stream", "name": name, "text": text}

    outputs = [stream("stdout", ["equal to 1e-5:"]), stream("stdout", " True\n"), stream("stderr", "warn\n"),
               stream("stdout", "next\n"), stream("stdout", "and more\n")]
    notebook = {"cells": [{"cell_type": "code", "metadata": {}, "outputs": outputs}], "metadata": {}}
    assert cleaner.clean(notebook)["streams merged"] == 2
    assert notebook["cells"][0]["outputs"] == [stream("stdout", "equal to 1e-5: True\n"), stream("stderr", "warn\n"),
                                               stream("stdout", "next\nand more\n")]


# --- no machine's paths in what a learner reads on GitHub ------------------------------------------

MACHINE_PATHS = re.compile(r"/(?:work|root|tmp|home)/")
"""Absolute paths of the machine that ran the notebook (``course_utils.env.shown_path`` prints
``~/...`` or a relative path instead)."""
PATHS_PENDING: set[str] = set()
"""Notebooks whose committed outputs still print such paths (the data folder of the flowers, the
torch hub cache); their owners fix them (``shown_path``) and remove them here."""
EDITIONS = NOTEBOOKS + sorted((Path(__file__).resolve().parents[1] / "notebooks" / "zh_CN").glob("*.ipynb"))


def machine_paths(notebook: dict) -> list[str]:
    """``cell N: ...`` for every output that names an absolute path of the machine that ran it."""
    found = []
    for index, cell in enumerate(notebook.get("cells", [])):
        for output in cell.get("outputs", []):
            for match in MACHINE_PATHS.finditer(json.dumps(output, ensure_ascii=False)):
                found.append(f"cell {index}: ...{json.dumps(output, ensure_ascii=False)[match.start():match.start() + 60]}")
    return found


@pytest.mark.parametrize("path", [
    pytest.param(p, marks=pytest.mark.xfail(strict=True, reason="its owner removes the machine's paths"))
    if p.name[:2] in PATHS_PENDING else p for p in EDITIONS], ids=lambda p: p.relative_to(p.parents[1]).as_posix())
def test_no_output_shows_a_path_of_the_machine_that_ran_it(path: Path):
    found = machine_paths(_load(path))
    assert not found, (f"{path.name}: outputs name this machine's folders: {found[:5]}; print paths with "
                       "course_utils.env.shown_path (relative to the data folder, or ~/...).")


@pytest.mark.parametrize("text", ["data folder: /work/main/data", "saved to /root/.cache/x.pth",
                                  "C:/tmp/x", "/home/me/data"])
def test_machine_paths_are_found(text):
    notebook = {"cells": [{"cell_type": "code", "outputs": [{"output_type": "stream", "name": "stdout", "text": text}]}]}
    assert machine_paths(notebook)
    notebook["cells"][0]["outputs"][0]["text"] = "data folder: ../data, cache ~/.cache/torch"
    assert not machine_paths(notebook)
