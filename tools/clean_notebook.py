"""Make an executed notebook fit to commit: finished progress bars, no timestamps, no widget state.

Run it after the full run that produces the committed outputs::

    jupyter nbconvert --to notebook --execute --inplace notebooks/05-classic-architectures.ipynb
    python tools/clean_notebook.py notebooks/05-classic-architectures.ipynb

What it changes, and why:

- **Progress bars.** A tqdm bar in a notebook is a widget; the notebook file keeps only the
  text it showed when it *appeared* (``epochs: 0%| 0/3``), so GitHub and a notebook opened
  without a kernel show every bar frozen at 0 %. ``nbconvert --execute`` also saves the final
  state of every widget in the notebook's metadata. This script reads that state and writes
  each bar's *final* text in place of its first one (``epochs: 100%|██████████| 3/3 [...]``);
  bars that closed themselves (``leave=False``: hidden when done) are removed, as they were
  from the screen. Only tqdm bars are touched; other widgets (the explorers) keep their output.
- **Timestamps.** ``execution`` timestamps in each cell's metadata change on every run and are
  noise in every diff: removed.
- **Streams.** A kernel under load flushes one ``print`` in several pieces (``"... to 1e-5:"``,
  then ``" True\n"``), so the same run is saved as one stream output or as several, and a figure
  can be cut from its unit. Consecutive outputs of the same stream are merged into one, as
  JupyterLab shows them.
- **Widget state.** Only the models that a remaining widget output uses are kept (the
  explorers: JupyterLab can then draw them without a kernel); the progress bars' models, a dozen
  per bar, go once their final text is written out.

``tests/test_notebook_files.py`` checks the result.
"""

from __future__ import annotations

import argparse
import html
import sys
from pathlib import Path

import nbformat

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def _bar_text(state: dict, model_id: str) -> tuple[str, bool] | None:
    """(final text, hidden) of the tqdm bar whose container is ``model_id``; None if not a bar."""
    box = state.get(model_id)
    if not box or box.get("model_name") != "HBoxModel":
        return None
    children = [state.get(str(c).removeprefix("IPY_MODEL_"), {}) for c in box["state"].get("children", [])]
    if [c.get("model_name") for c in children] != ["HTMLModel", "FloatProgressModel", "HTMLModel"]:
        return None
    left, bar, right = (c["state"] for c in children)
    total, value = bar.get("max") or 0, bar.get("value") or 0
    filled = round(10 * value / total) if total else 0
    graphic = "█" * filled + " " * (10 - filled)
    text = f"{left.get('value', '')}|{graphic}|{right.get('value', '')}"
    text = html.unescape(text).replace("\u2007", " ")
    layout = state.get(str(box["state"].get("layout", "")).removeprefix("IPY_MODEL_"), {})
    hidden = layout.get("state", {}).get("visibility") == "hidden"
    return text, hidden


def _referenced(value: object) -> list[str]:
    """Model ids that a widget's state points to (``"IPY_MODEL_<id>"``, nested anywhere)."""
    if isinstance(value, str):
        return [value.removeprefix("IPY_MODEL_")] if value.startswith("IPY_MODEL_") else []
    if isinstance(value, dict):
        return [i for v in value.values() for i in _referenced(v)]
    if isinstance(value, list):
        return [i for v in value for i in _referenced(v)]
    return []


def _reachable(state: dict, roots: list[str]) -> dict:
    """The part of the widget state that the models ``roots`` need."""
    kept: dict = {}
    todo = list(roots)
    while todo:
        model_id = todo.pop()
        if model_id in kept or model_id not in state:
            continue
        kept[model_id] = state[model_id]
        todo += _referenced(state[model_id].get("state", {}))
    return kept


def _text(value: str | list[str]) -> str:
    return "".join(value) if isinstance(value, list) else value


def _merge_streams(outputs: list[dict]) -> tuple[list[dict], int]:
    """``outputs`` with each run of consecutive outputs of one stream (stdout, stderr) merged into one."""
    merged: list[dict] = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (output.get("output_type") == "stream" and previous is not None
                and previous.get("output_type") == "stream" and previous.get("name") == output.get("name")):
            previous["text"] = _text(previous.get("text", "")) + _text(output.get("text", ""))
            continue
        merged.append(output)
    return merged, len(outputs) - len(merged)


def clean(notebook: dict) -> dict[str, int]:
    """Clean ``notebook`` (a parsed .ipynb) in place; return what was changed, by kind."""
    counts = {"bars finished": 0, "hidden bars removed": 0, "timestamps removed": 0, "streams merged": 0}
    widgets = notebook.get("metadata", {}).pop("widgets", {})
    state = widgets.get(WIDGET_STATE, {}).get("state", {})
    roots: list[str] = []
    for cell in notebook.get("cells", []):
        if cell.get("metadata", {}).pop("execution", None) is not None:
            counts["timestamps removed"] += 1
        outputs = []
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            bar = _bar_text(state, view["model_id"]) if view else None
            if bar is None:
                if view:
                    roots.append(view["model_id"])
                outputs.append(output)
                continue
            text, hidden = bar
            if hidden:
                counts["hidden bars removed"] += 1
                continue
            output["data"] = {"text/plain": [text]}
            counts["bars finished"] += 1
            outputs.append(output)
        if "outputs" in cell:
            cell["outputs"], merged = _merge_streams(outputs)
            counts["streams merged"] += merged
    kept = _reachable(state, roots)
    if kept:
        notebook["metadata"]["widgets"] = {WIDGET_STATE: {**widgets[WIDGET_STATE], "state": kept}}
    counts["widget models kept"] = len(kept)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    for path in args.notebooks:
        notebook = nbformat.read(path, as_version=4)
        counts = clean(notebook)
        nbformat.write(notebook, path)
        print(f"{path}: " + ", ".join(f"{n} {what}" for what, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
