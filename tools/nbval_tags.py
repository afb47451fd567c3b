"""nbval's instructions live in cell tags, never in the code a learner reads.

nbval reads an instruction either from a comment in the cell (``# NBVAL_IGNORE_OUTPUT``) or from a
cell tag (``nbval-ignore-output``). A comment is on every screen and slide that shows the cell and
is about CI, not about convolutional networks; a tag is invisible in JupyterLab unless you open the
property inspector. :func:`move_markers_to_tags` turns every marker comment into its tag (``make
chrome`` runs it on every notebook), so a contributor may still type the comment: the next ``make
chrome`` moves it, and ``make chrome --check`` (a test) fails until then.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["MARKERS", "move_markers_to_tags", "nbval_tags"]

MARKERS = {
    "NBVAL_IGNORE_OUTPUT": "nbval-ignore-output",
    "NBVAL_CHECK_OUTPUT": "nbval-check-output",
    "NBVAL_RAISES_EXCEPTION": "nbval-raises-exception",
    "NBVAL_SKIP": "nbval-skip",
}
"""nbval's comment markers and the cell tags that mean the same (nbval's own table)."""


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def nbval_tags(cell: dict) -> list[str]:
    """The nbval tags a cell carries (in the order of :data:`MARKERS`)."""
    tags = cell.get("metadata", {}).get("tags", [])
    return [tag for tag in MARKERS.values() if tag in tags]


def move_markers_to_tags(cells: Sequence[dict]) -> int:
    """Remove every nbval marker comment line from code cells and tag the cell instead (in place).

    Returns how many cells changed. A marker is a line that is only ``# NBVAL_...`` (what nbval
    itself recognises); other comments and code are left as they are.
    """
    changed = 0
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        kept, found = [], []
        for line in _source(cell).splitlines(keepends=True):
            comment = line.strip().lstrip("#").strip()
            if line.strip().startswith("#") and comment in MARKERS:
                found.append(MARKERS[comment])
            else:
                kept.append(line)
        if not found:
            continue
        cell["source"] = "".join(kept)
        metadata = cell.setdefault("metadata", {})
        tags = list(metadata.get("tags", []))
        metadata["tags"] = tags + [tag for tag in found if tag not in tags]
        changed += 1
    return changed
