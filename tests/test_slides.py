"""Slide metadata (tools/slides.py) and the reveal.js decks that `make slides` writes."""

from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from tools.launch_links import BADGES_TAG, INSTALL_TAG
from tools.notebook_chrome import notebook_paths
from tools.slides import LONG_OUTPUT_LINES, SLIDE_TYPES, slide_types

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = notebook_paths(ROOT)


def _md(text: str) -> dict:
    return nbformat.v4.new_markdown_cell(text)


def _code(lines_out: int = 0, image: bool = False) -> dict:
    cell = nbformat.v4.new_code_cell("x = 1")
    if lines_out:
        cell.outputs.append(nbformat.v4.new_output("stream", name="stdout", text="line\n" * lines_out))
    if image:
        cell.outputs.append(nbformat.v4.new_output("display_data", data={"image/png": "", "text/plain": "<Figure>"}))
    return cell


def test_the_rules():
    badges, install = _md("[badges]"), _code()
    badges.metadata["tags"], install.metadata["tags"] = [BADGES_TAG], [INSTALL_TAG]
    cells = [
        _md("# Title"), badges, install,
        _md("## Section"), _md("prose"), _code(2), _code(1),
        _md("prose after code"), _code(LONG_OUTPUT_LINES + 1),
        _md("### Subsection"), _code(image=True),
        _md("text\n## not a heading on the first line"),
    ]  # fmt: skip
    assert slide_types(cells) == [
        "slide", "skip", "skip",
        "slide", "-", "-", "fragment",
        "subslide", "subslide",
        "subslide", "subslide",
        "subslide",
    ]  # fmt: skip


def test_the_first_shown_cell_starts_a_slide_even_without_a_title():
    assert slide_types([_code(1), _md("prose")]) == ["slide", "subslide"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_cell_has_slide_metadata(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    types = [c["metadata"].get("slideshow", {}).get("slide_type") for c in cells]
    assert all(t in SLIDE_TYPES for t in types), "run `make chrome`"
    assert types == slide_types(cells), "run `make chrome`"
    assert types[0] == "slide"
    titles = [c for c in cells if c["cell_type"] == "markdown" and "".join(c["source"]).startswith(("# ", "## "))]
    assert all(c["metadata"]["slideshow"]["slide_type"] == "slide" for c in titles)


class _Sections(HTMLParser):
    """Counts reveal.js slides: top-level <section>s, and the vertical ones inside them."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.by_depth: dict[int, int] = {}

    def handle_starttag(self, tag, attrs):
        if tag == "section":
            self.depth += 1
            self.by_depth[self.depth] = self.by_depth.get(self.depth, 0) + 1

    def handle_endtag(self, tag):
        if tag == "section":
            self.depth -= 1


def test_make_slides_writes_a_deck_per_notebook_with_a_section_per_slide(tmp_path):
    """The command `make slides` runs, over every notebook, into a temporary folder."""
    done = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "slides", "--output-dir", str(tmp_path), *map(str, NOTEBOOKS)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "nbconvert --to slides" in (ROOT / "Makefile").read_text()
    for path in NOTEBOOKS:
        deck = tmp_path / f"{path.stem}.slides.html"
        assert deck.is_file(), f"no deck for {path.name}"
        html = deck.read_text(encoding="utf-8")
        types = [c["metadata"]["slideshow"]["slide_type"] for c in json.loads(path.read_text(encoding="utf-8"))["cells"]]
        sections = _Sections()
        sections.feed(html)
        assert sections.depth == 0, f"{deck.name}: unbalanced <section> tags"
        assert sections.by_depth.get(1, 0) == types.count("slide"), deck.name
        assert sections.by_depth.get(2, 0) == types.count("slide") + types.count("subslide"), deck.name
        assert "google.colab" not in html, "the Colab install cell is skipped in the deck"
