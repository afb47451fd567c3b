"""The package's messages (checkers' verdicts, explorers' labels): extracted, merged, compiled, checked.

A message is a string literal passed to ``_()`` or ``gettext()`` in ``course_utils/`` (see
:mod:`course_utils.i18n`). Its English is its key, so the catalog
(``course_utils/locale/zh_CN/LC_MESSAGES/course_utils.po``) is merged by ``msgid`` (gettext's
own way): an English message that changed is a new message, and the translation of the old one,
if it is similar enough, is carried over as ``fuzzy``. The compiled ``.mo`` next to it is what
:mod:`course_utils.i18n` reads at run time; it is committed, and checked to match the ``.po``.
"""

from __future__ import annotations

import ast
import string
from pathlib import Path

import polib

from tools.i18n.catalogs import Source

__all__ = ["MessageError", "compiled", "extract_messages", "messages_catalog_path", "placeholder_problems"]

FUNCTIONS = {"_", "gettext"}
DOMAIN = "course_utils"


class MessageError(ValueError):
    """A ``_()`` call that cannot be extracted; the message says how to write it."""


def messages_catalog_path(root: Path, language: str) -> Path:
    return root / "course_utils" / "locale" / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def extract_messages(root: Path) -> list[Source]:
    """Every ``_("...")`` in the package, in file order; the occurrence is the file (no line: no churn)."""
    found: list[tuple[str, int, str]] = []
    package = root / "course_utils"
    for path in sorted(package.rglob("*.py")):
        where = path.relative_to(root).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=where)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS):
                continue
            if len(node.args) != 1 or node.keywords:
                raise MessageError(f"{where}:{node.lineno}: {node.func.id}() takes one string.")
            argument = node.args[0]
            if not (isinstance(argument, ast.Constant) and isinstance(argument.value, str)):
                raise MessageError(
                    f"{where}:{node.lineno}: {node.func.id}() needs a plain string literal with named "
                    f"placeholders, filled in after translation: _(\"... {{name}} ...\").format(name=value), "
                    f"not an f-string or a variable.")
            found.append((where, node.lineno, argument.value))
    first: dict[str, Source] = {}
    for where, _, message in sorted(found):
        first.setdefault(message, Source(where, message))
    return list(first.values())


def _fields(text: str) -> list[tuple[str, str]]:
    try:
        return sorted((name, spec) for _, name, spec, _ in string.Formatter().parse(text) if name is not None)
    except ValueError as error:
        return [("<malformed>", str(error))]


def placeholder_problems(msgid: str, msgstr: str) -> list[str]:
    """A translation must keep every ``{name:spec}`` of the English, and add none."""
    english, chinese = _fields(msgid), _fields(msgstr)
    if sorted(set(english)) == sorted(set(chinese)):
        return []
    return [f"the translation's placeholders {sorted(set(chinese))} differ from the English's {sorted(set(english))}"]


def compiled(catalog: polib.POFile) -> bytes:
    """The ``.mo`` bytes of ``catalog`` (translated, non-fuzzy entries only, as ``msgfmt`` writes them)."""
    return catalog.to_binary()
