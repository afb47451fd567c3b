"""``python -m tools.notebook_chrome``: launch links and slide metadata on every notebook.

What it writes (and nothing else):

- in each ``notebooks/*.ipynb``, right after the title cell: the launch badges (Colab,
  Binder) naming that notebook, and the Colab install cell (:mod:`tools.launch_links`);
- on every cell, ``metadata.slideshow.slide_type`` (:mod:`tools.slides`);
- nbval's instructions as cell tags: a ``# NBVAL_IGNORE_OUTPUT`` line in a code cell becomes
  the tag ``nbval-ignore-output`` (:mod:`tools.nbval_tags`), so learners never see it;
- nbgrader's metadata on the answer, check and question cells of the notebooks in
  :data:`tools.nbgrader_cells.GRADED`, from the course's tags (:mod:`tools.nbgrader_cells`);
- in ``README.md``, the badges between ``<!-- launch-badges -->`` and ``<!-- /launch-badges -->``;
  in ``README.zh-CN.md`` (the Chinese front door) the same, opening the Chinese first notebook.

The Chinese notebooks (``notebooks/zh_CN/``) get their chrome from ``python -m tools.i18n build``,
which calls :func:`chrome_notebook` with their own path and ``language="zh_CN"``.

It is idempotent: a second run changes nothing, and a run after someone edits a notebook
updates only what the rules say. Existing chrome cells are found by their tags and updated in
place (their execution count and timing metadata are kept, their outputs cleared: the install
cell prints nothing outside Colab). ``--check`` changes nothing and exits 1, naming the files,
when something is out of date (the tests run it). ``make chrome`` runs it over the repository.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

from tools.launch_links import (
    BADGES_TAG,
    INSTALL_TAG,
    Repository,
    badge_markdown,
    colab_install_source,
    readme_badges,
    repository,
    runtime_requirements,
)
from tools.nbgrader_cells import is_graded, nbgrader_metadata
from tools.nbval_tags import move_markers_to_tags
from tools.slides import apply_slide_types

__all__ = ["ROOT", "chrome_notebook", "chrome_readme", "main", "notebook_paths"]

ROOT = Path(__file__).resolve().parent.parent
README_MARKERS = ("<!-- launch-badges -->", "<!-- /launch-badges -->")


def notebook_paths(root: Path = ROOT) -> list[Path]:
    """The course's notebooks, in order."""
    return sorted((root / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def _tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def _is_title(cell: dict) -> bool:
    source = "".join(cell.get("source", ""))
    return cell.get("cell_type") == "markdown" and source.lstrip().startswith("# ")


def _chrome_cell(kind: str, tag: str, source: str, old: dict | None, with_ids: bool) -> dict:
    """The chrome cell as it must be; keeps the old cell's execution count and extra metadata."""
    if kind == "code":
        cell = nbformat.v4.new_code_cell(source)
        if old is not None:
            cell["execution_count"] = old.get("execution_count")
        cell["outputs"] = []
    else:
        cell = nbformat.v4.new_markdown_cell(source)
    metadata = copy.deepcopy(old.get("metadata", {})) if old is not None else {}
    metadata["tags"] = [tag, *(t for t in metadata.get("tags", []) if t != tag)]
    cell["metadata"] = nbformat.from_dict(metadata)
    if with_ids:
        cell["id"] = tag
    else:
        cell.pop("id", None)
    return cell


def chrome_notebook(
    nb: nbformat.NotebookNode, path_in_repo: str, repo: Repository, requirements: list[str] | None = None,
    language: str = "en",
) -> None:
    """Put the launch cells right after the title, nbval's markers in tags and slide metadata on every cell (in place).

    ``requirements``: the course's runtime dependencies, for the Colab install cell. ``language``:
    the edition's (``"zh_CN"`` for ``notebooks/zh_CN/``), for the sentence under the badges.
    """
    cells = nb["cells"]
    old = {tag: next((c for c in cells if tag in _tags(c)), None) for tag in (BADGES_TAG, INSTALL_TAG)}
    rest = [c for c in cells if not {BADGES_TAG, INSTALL_TAG} & set(_tags(c))]
    with_ids = (nb.get("nbformat"), nb.get("nbformat_minor", 0)) >= (4, 5)
    badges = _chrome_cell("markdown", BADGES_TAG, badge_markdown(repo, path_in_repo, language), old[BADGES_TAG], with_ids)
    install = _chrome_cell("code", INSTALL_TAG, colab_install_source(repo, requirements or []), old[INSTALL_TAG], with_ids)
    at = 1 if rest and _is_title(rest[0]) else 0
    nb["cells"] = [*rest[:at], badges, install, *rest[at:]]
    move_markers_to_tags(nb["cells"])
    apply_slide_types(nb["cells"])
    if is_graded(path_in_repo):
        nbgrader_metadata(nb["cells"])


def chrome_readme(text: str, repo: Repository, first_notebook: str) -> str:
    """README text with the badges between the markers (added under the title when missing)."""
    start, end = README_MARKERS
    block = f"{start}\n{readme_badges(repo, first_notebook)}\n{end}"
    if start in text and end in text:
        return re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, text, count=1, flags=re.S)
    title, _, rest = text.partition("\n")
    return f"{title}\n\n{block}\n{rest}" if title.startswith("# ") else f"{block}\n\n{text}"


def _updates(root: Path) -> dict[Path, str]:
    """Every file that must change, with its new text."""
    repo = repository(root)
    requirements = runtime_requirements(root)
    updates: dict[Path, str] = {}
    paths = notebook_paths(root)
    for path in paths:
        old_text = path.read_text(encoding="utf-8")
        nb = nbformat.reads(old_text, as_version=4)
        chrome_notebook(nb, path.relative_to(root).as_posix(), repo, requirements)
        new_text = nbformat.writes(nb) + "\n"
        if new_text != old_text:
            updates[path] = new_text
    for readme, folder in ((root / "README.md", root / "notebooks"), (root / "README.zh-CN.md", root / "notebooks" / "zh_CN")):
        first = sorted(folder.glob("[0-9][0-9]-*.ipynb"))
        if readme.exists() and first:
            old_text = readme.read_text(encoding="utf-8")
            new_text = chrome_readme(old_text, repo, first[0].relative_to(root).as_posix())
            if new_text != old_text:
                updates[readme] = new_text
    return updates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.notebook_chrome", description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root (default: this one)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if something is out of date")
    args = parser.parse_args(argv)
    updates = _updates(args.root.resolve())
    for path, text in updates.items():
        name = path.relative_to(args.root.resolve())
        if args.check:
            print(f"out of date: {name} (run `make chrome`)")
        else:
            path.write_text(text, encoding="utf-8")
            print(f"updated {name}")
    if not updates:
        print("launch links and slide metadata: up to date")
    return 1 if args.check and updates else 0


if __name__ == "__main__":
    sys.exit(main())
