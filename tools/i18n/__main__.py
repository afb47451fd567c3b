"""``python -m tools.i18n``: keep the Chinese edition in step with the English notebooks.

    update [NN ...] [--prune]   merge the English into the catalogs (NN: a notebook joins the edition)
    build [NN ...]              write notebooks/zh_CN/ and compile the messages' .mo
    check                       exit 1, naming notebook and cell, when anything is missing, fuzzy,
                                obsolete or out of date (the tests run it)
    status                      which cells need translating

After editing an English notebook: ``make translations`` (update, build, status), translate what
it lists in the .po files (any PO editor, or a text editor), then ``make translations`` again.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tools.i18n.commands import build, check, status, update
from tools.i18n.glossary import GlossaryError
from tools.i18n.layout import LANGUAGE, ROOT, NotebookNotFound, notes_path
from tools.i18n.messages import MessageError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.i18n", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("command", choices=["update", "build", "check", "status"])
    parser.add_argument("notebooks", nargs="*", help="01, 01-convolution-arithmetic, … (default: the edition's)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository (default: this one)")
    parser.add_argument("--language", default=LANGUAGE)
    parser.add_argument("--prune", action="store_true", help="update: drop obsolete entries")
    parser.add_argument("--notes", type=Path, default=None,
                        help="check: the lecture notes, to check quotes and glossary terms against "
                             f"(default: {notes_path(ROOT)} when it exists)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    try:
        if args.command == "check":
            notes = args.notes or (notes_path(root) if notes_path(root).exists() else None)
            problems = check(root, args.language, notes)
            for problem in problems:
                print(problem)
            print(f"{len(problems)} problem(s)" if problems else "the Chinese edition is complete and current")
            return 1 if problems else 0
        if args.command == "status":
            print(status(root, args.language))
            return 0
        run = update if args.command == "update" else build
        kwargs = {"prune": args.prune} if args.command == "update" else {}
        changed = run(root, args.notebooks, language=args.language, **kwargs)
        print("\n".join(f"wrote {name}" for name in changed) or f"{args.command}: nothing changed")
        return 0
    except (NotebookNotFound, GlossaryError, MessageError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
