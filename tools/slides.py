"""Slide metadata for every cell, by rule, so that the notebooks can be presented as they are.

JupyterLab's RISE extension (``jupyterlab-rise``) presents a notebook live, and
``jupyter nbconvert --to slides`` writes a reveal.js deck; both read each cell's
``metadata.slideshow.slide_type``. Nobody has to set it by hand: :func:`slide_types` derives
it from the notebook's structure (which CONTRIBUTING.md fixes), so after any edit running
``make chrome`` again re-annotates the notebook, and running it twice changes nothing.

The rules, in order (the first that applies wins):

1. the launch badges and the Colab install cell → ``skip`` (they mean nothing on a screen);
2. the first cell that is shown → ``slide``;
3. a markdown cell whose first line is a ``#`` or ``##`` heading (the title, a section) → ``slide``;
4. a markdown cell with a deeper heading (``###``: a subsection) → ``subslide``;
5. prose that follows code → ``subslide``: one idea per slide, as the notebooks have one idea
   per prose-then-code step;
6. a code cell with a long output (a figure, a widget, or more than :data:`LONG_OUTPUT_LINES`
   lines of text) → ``subslide``, so that the output has a screen of its own;
7. code right after code → ``fragment`` (it appears on the next click);
8. anything else → ``-`` (continues the current slide).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tools.launch_links import BADGES_TAG, INSTALL_TAG

__all__ = ["LONG_OUTPUT_LINES", "SLIDE_TYPES", "apply_slide_types", "output_lines", "slide_types"]

SLIDE_TYPES = ("slide", "subslide", "fragment", "-", "skip", "notes")
LONG_OUTPUT_LINES = 15
_TALL_OUTPUTS = ("image/png", "image/jpeg", "image/svg+xml", "application/vnd.jupyter.widget-view+json")


def _text(value: str | list[str]) -> str:
    return "".join(value) if isinstance(value, list) else value


def _heading_level(source: str) -> int:
    """1 for ``# Title``, 2 for ``## Section``…, 0 when the cell does not start with a heading."""
    first = next((line for line in source.splitlines() if line.strip()), "")
    match = re.match(r"^(#{1,6})\s", first)
    return len(match.group(1)) if match else 0


def output_lines(cell: dict) -> int:
    """How tall a code cell's outputs are, in lines of text; a figure or a widget counts as tall."""
    lines = 0
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            lines += _text(output.get("text", "")).count("\n")
        elif output.get("output_type") == "error":
            lines += len(output.get("traceback", []))
        else:
            data = output.get("data", {})
            if any(kind in data for kind in _TALL_OUTPUTS):
                lines += LONG_OUTPUT_LINES + 1
            else:
                lines += _text(data.get("text/plain", "")).count("\n") + 1
    return lines


def slide_types(cells: Sequence[dict]) -> list[str]:
    """The slide type of each cell, by the rules in this module's docstring."""
    types: list[str] = []
    previous: str | None = None  # the type of the previous cell that is shown
    for cell in cells:
        tags = cell.get("metadata", {}).get("tags", [])
        kind = cell.get("cell_type")
        source = _text(cell.get("source", ""))
        if BADGES_TAG in tags or INSTALL_TAG in tags:
            types.append("skip")
            continue
        if previous is None:
            slide_type = "slide"
        elif kind == "markdown":
            level = _heading_level(source)
            if level in (1, 2):
                slide_type = "slide"
            elif level >= 3 or previous == "code":
                slide_type = "subslide"
            else:
                slide_type = "-"
        elif kind == "code":
            if output_lines(cell) > LONG_OUTPUT_LINES:
                slide_type = "subslide"
            elif previous == "code":
                slide_type = "fragment"
            else:
                slide_type = "-"
        else:  # raw cells
            slide_type = "-"
        types.append(slide_type)
        previous = kind
    return types


def apply_slide_types(cells: Sequence[dict]) -> int:
    """Write ``metadata.slideshow.slide_type`` into every cell; return how many cells changed."""
    changed = 0
    for cell, slide_type in zip(cells, slide_types(cells), strict=True):
        slideshow = cell.setdefault("metadata", {}).setdefault("slideshow", {})
        if slideshow.get("slide_type") != slide_type:
            slideshow["slide_type"] = slide_type
            changed += 1
    return changed
