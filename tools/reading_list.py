"""``python -m tools.reading_list [--check]``: the READMEs' further reading, from the package's one list.

The list lives in :mod:`course_utils.reading` (``READING``); notebook 09 (the cheat sheet) prints it,
and this tool writes it into both READMEs (:data:`READMES`: the English one and the Chinese one,
whose entries are the same bibliographic lines, titles in their own language) between
:data:`README_MARKERS`. ``--check`` changes nothing and exits 1 when a README's list is not what
the package holds (a test runs it), so the three cannot drift.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course_utils.reading import reading_markdown
from tools.run_times import replace_between

__all__ = ["README_MARKERS", "READMES", "main", "update_readme"]

ROOT = Path(__file__).resolve().parent.parent
README_MARKERS = ("<!-- further-reading -->", "<!-- /further-reading -->")
READMES = (ROOT / "README.md", ROOT / "README.zh-CN.md")
"""The READMEs that show the list, each with its own lead sentence above the markers."""


def update_readme(readme: str, listing: str | None = None, name: str = "README.md") -> str:
    """``readme`` with the list between :data:`README_MARKERS` replaced by ``listing`` (default: the package's)."""
    return replace_between(readme, README_MARKERS, reading_markdown() if listing is None else listing,
                           name=name, what="the further reading")


def main(argv: list[str] | None = None) -> int:
    """Write the READMEs' further reading (``--check``: only compare, exit 1 when one is out of date)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a README is out of date")
    parser.add_argument("--readme", type=Path, action="append",
                        help="a README to write or check (repeatable; default: README.md and README.zh-CN.md)")
    args = parser.parse_args(argv)
    stale = 0
    for path in args.readme or READMES:
        readme = path.read_text(encoding="utf-8")
        updated = update_readme(readme, name=path.name)
        if updated == readme:
            continue
        if args.check:
            print(f"{path}: its further reading is out of date; run `python -m tools.reading_list`", file=sys.stderr)
            stale = 1
            continue
        path.write_text(updated, encoding="utf-8")
        print(f"{path}: further reading written")
    return stale


if __name__ == "__main__":
    sys.exit(main())
