"""``python -m tools.reading_list [--check]``: the README's further reading, from the package's one list.

The list lives in :mod:`course_utils.reading` (``READING``); notebook 09 (the cheat sheet) prints it,
and this tool writes it into the README between :data:`README_MARKERS`. ``--check`` changes
nothing and exits 1 when the README's list is not what the package holds (a test runs it), so the
two cannot drift.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course_utils.reading import reading_markdown

__all__ = ["README_MARKERS", "main", "update_readme"]

ROOT = Path(__file__).resolve().parent.parent
README_MARKERS = ("<!-- further-reading -->", "<!-- /further-reading -->")


def update_readme(readme: str, listing: str | None = None) -> str:
    """``readme`` with the list between :data:`README_MARKERS` replaced by ``listing`` (default: the package's)."""
    start, end = README_MARKERS
    if readme.count(start) != 1 or readme.count(end) != 1:
        raise ValueError(f"README.md must hold {start} and {end} once each, around the further reading")
    head, rest = readme.split(start)
    _, tail = rest.split(end)
    return f"{head}{start}\n{reading_markdown() if listing is None else listing}{end}{tail}"


def main(argv: list[str] | None = None) -> int:
    """Write the README's further reading (``--check``: only compare, exit 1 when out of date)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if README.md is out of date")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = parser.parse_args(argv)
    readme = args.readme.read_text(encoding="utf-8")
    updated = update_readme(readme)
    if updated == readme:
        return 0
    if args.check:
        print(f"{args.readme}: its further reading is out of date; run `python -m tools.reading_list`",
              file=sys.stderr)
        return 1
    args.readme.write_text(updated, encoding="utf-8")
    print(f"{args.readme}: further reading written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
