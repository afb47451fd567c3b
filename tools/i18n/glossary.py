"""The glossary (``i18n/glossary.tsv``) and the key-terms tables that both editions build from it.

One row per term, tab-separated, with a header::

    en  also  zh  notes  source

- ``en``: the English term, as the English table shows it; ``also``: other English names a table
  may use for it (``;``-separated), rewritten to ``en``;
- ``zh``: the Chinese term, the same in both editions;
- ``notes``: the lecture notes' own words for it, verbatim, when they add something (an English
  name the notes use, such as ``Filter``; the phrase the term comes from);
- ``source``: ``notes`` (``zh`` is the notes' word, verbatim), ``d2l:<chapter file>`` (the notes
  are silent; the term of zh.d2l.ai, where that chapter uses it) or ``course`` (neither has one:
  chosen here).

A key-terms cell is a markdown cell tagged ``key-terms``: prose, then a table whose first column
names glossary terms and whose optional third column says what the term means in that notebook.
The English table's 中文 column and the whole Chinese table are written from the glossary; the
meanings are translated like any prose (one catalog entry per row).
"""

from __future__ import annotations

import csv
import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "COLUMNS",
    "KEY_TERMS_MARKER",
    "KEY_TERMS_TAG",
    "Glossary",
    "GlossaryError",
    "KeyTerms",
    "Term",
    "english_key_terms",
    "is_key_terms_cell",
    "parse_key_terms",
    "read_glossary",
    "table",
]

COLUMNS = ("en", "also", "zh", "notes", "source")
KEY_TERMS_TAG = "key-terms"
KEY_TERMS_MARKER = "<!-- key-terms table -->"
"""Where the table goes in the translated prose of a key-terms cell (translators keep this line)."""

_HEADERS = {
    "en": {2: ("English", "中文"), 3: ("English", "中文 (lecture notes)", "meaning here")},
    "zh_CN": {2: ("中文", "English"), 3: ("中文（笔记用语）", "English", "本节中的含义")},
}


class GlossaryError(ValueError):
    """A glossary file or a key-terms table that cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class Term:
    """One glossary row."""

    en: str
    zh: str
    also: tuple[str, ...] = ()
    notes: str = ""
    source: str = "notes"

    def names(self) -> tuple[str, ...]:
        return (self.en, *self.also)

    def chinese(self, language: str) -> str:
        """The 中文 column: the term, the notes' words, and where it comes from when not the notes."""
        zh = language != "en"
        extra: list[str] = []
        if self.source.startswith("d2l"):
            extra.append("取自 zh.d2l.ai" if zh else "zh.d2l.ai")
        elif self.source == "course":
            extra.append("笔记与 zh.d2l.ai 均未提及" if zh else "not in the notes or zh.d2l.ai")
        if self.notes:
            words = self.notes
            if self.source != "notes":
                words = ("笔记原文：" if zh else "the notes: ") + words
            extra.append(words)
        if not extra:
            return self.zh
        return f"{self.zh}（{'；'.join(extra)}）" if zh else f"{self.zh} ({'; '.join(extra)})"


class Glossary:
    """The terms, found by any of their English names (case and spacing ignored)."""

    def __init__(self, terms: Iterable[Term]) -> None:
        self.terms = list(terms)
        self._by_name: dict[str, Term] = {}
        for term in self.terms:
            for name in term.names():
                key = _key(name)
                if key in self._by_name:
                    raise GlossaryError(f"the glossary names {name!r} twice (terms {self._by_name[key].en!r} "
                                        f"and {term.en!r}): keep one.")
                self._by_name[key] = term

    def find(self, name: str) -> Term:
        """The term called ``name``; the error names the closest terms and where to add it."""
        term = self._by_name.get(_key(name))
        if term is None:
            close = difflib.get_close_matches(_key(name), list(self._by_name), n=3, cutoff=0.6)
            hint = f" Closest: {', '.join(repr(self._by_name[c].en) for c in close)}." if close else ""
            raise GlossaryError(f"{name!r} is not in i18n/glossary.tsv: use a glossary term in the "
                                f"table's first column, or add a row for it to the glossary.{hint}")
        return term

    def __contains__(self, name: str) -> bool:
        return _key(name) in self._by_name


def _key(name: str) -> str:
    return " ".join(name.lower().split())


def read_glossary(path: Path) -> Glossary:
    """Read ``i18n/glossary.tsv`` (lines starting with ``#`` are comments)."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    rows = list(csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows or tuple(rows[0]) != COLUMNS:
        raise GlossaryError(f"{path}: the first row must be the header {' / '.join(COLUMNS)} (tab-separated).")
    terms = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(COLUMNS):
            raise GlossaryError(f"{path}, row {number}: {len(row)} fields, expected {len(COLUMNS)} "
                                f"separated by tabs (leave a field empty, never out): {row}")
        en, also, zh, notes, source = (field.strip() for field in row)
        if not en or not zh:
            raise GlossaryError(f"{path}, row {number}: the en and zh fields must not be empty.")
        if source not in ("notes", "course") and not re.fullmatch(r"d2l:chapter_[\w-]+/[\w.-]+\.md|d2l:TERMINOLOGY\.md", source):
            raise GlossaryError(f"{path}, row {number} ({en}): source must be notes, course or "
                                f"d2l:<chapter file of zh.d2l.ai>, got {source!r}.")
        terms.append(Term(en, zh, tuple(a.strip() for a in also.split(";") if a.strip()), notes, source))
    return Glossary(terms)


@dataclass(frozen=True)
class KeyTerms:
    """A key-terms cell taken apart: prose around one table whose rows name glossary terms."""

    before: str
    rows: tuple[tuple[str, str | None], ...]  # (the term as the table names it, its meaning or None)
    after: str
    columns: int

    def prose(self) -> str:
        """What the catalog translates: the prose, with a marker line where the table goes."""
        return "\n\n".join(part for part in (self.before, KEY_TERMS_MARKER, self.after) if part)

    def with_table(self, prose: str, table_text: str) -> str:
        return prose.replace(KEY_TERMS_MARKER, table_text)


def is_key_terms_cell(cell: dict) -> bool:
    return cell.get("cell_type") == "markdown" and KEY_TERMS_TAG in cell.get("metadata", {}).get("tags", [])


_SPLIT = re.compile(r"(?<!\\)\|")


def parse_key_terms(source: str, where: str = "key-terms cell") -> KeyTerms:
    """Take a key-terms cell apart; a missing or malformed table is an error that says what to write."""
    lines = source.split("\n")
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("|")), None)
    if start is None:
        raise GlossaryError(f"{where}: no table; write one (| English | 中文 | meaning here |) under the prose.")
    end = next((i for i in range(start, len(lines)) if not lines[i].lstrip().startswith("|")), len(lines))
    cells = [[c.strip() for c in _SPLIT.split(line.strip().strip("|"))] for line in lines[start:end]]
    if len(cells) < 3 or not all(set(c) <= set("-: ") for c in cells[1]):
        raise GlossaryError(f"{where}: the table needs a header row, a | --- | row and at least one term.")
    columns = len(cells[0])
    if columns not in (2, 3) or any(len(row) != columns for row in cells):
        raise GlossaryError(f"{where}: every row needs the same 2 columns (English, 中文) or 3 "
                            f"(English, 中文, meaning here).")
    rows = tuple((row[0], row[2] if columns == 3 else None) for row in cells[2:])
    before = "\n".join(lines[:start]).strip("\n")
    after = "\n".join(lines[end:]).strip("\n")
    return KeyTerms(before, rows, after, columns)


def table(glossary: Glossary, key_terms: KeyTerms, language: str, meanings: dict[str, str] | None = None) -> str:
    """The table in ``language`` (``"en"`` or ``"zh_CN"``); ``meanings``: term (en) → translated meaning."""
    headers = _HEADERS["en" if language == "en" else "zh_CN"][key_terms.columns]
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * key_terms.columns]
    for name, meaning in key_terms.rows:
        term = glossary.find(name)
        first = (term.en, term.chinese(language)) if language == "en" else (term.chinese(language), term.en)
        row = [*first] + ([(meanings or {}).get(term.en, meaning or "")] if key_terms.columns == 3 else [])
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def english_key_terms(glossary: Glossary, source: str, where: str = "key-terms cell") -> str:
    """The English key-terms cell as the glossary writes it: same prose and meanings, terms and 中文 from the glossary."""
    key_terms = parse_key_terms(source, where)
    for name, _ in key_terms.rows:
        try:
            glossary.find(name)
        except GlossaryError as error:
            raise GlossaryError(f"{where}: {error}") from None
    return key_terms.with_table(key_terms.prose(), table(glossary, key_terms, "en"))
