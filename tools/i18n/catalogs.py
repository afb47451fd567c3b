"""A notebook's Chinese text as a gettext catalog: what is extracted, how it is merged, what is checked.

Every markdown cell of the English notebook is one entry: ``msgctxt`` is the cell's id, ``msgid``
its English source, ``msgstr`` the Chinese. A key-terms cell is one entry for its prose (the table
replaced by :data:`~tools.i18n.glossary.KEY_TERMS_MARKER`) and one per meaning in its table
(``msgctxt`` ``<cell id>/<term>``). The launch badges are not translated: the build writes them.
Nor are the generated lines of :mod:`tools.run_times` (a notebook's run time, 00's course table):
the entry holds their markers, the build writes them from the Chinese template, and the course
table's topics are one entry each (``msgctxt`` ``<cell id>/<notebook>``).

:func:`merge` is gettext's ``msgmerge``, keyed by cell id instead of by text: an English cell that
changed keeps its translation, marked ``fuzzy``, with the English it was made for as ``#| msgid``;
a cell that is gone becomes obsolete (``#~``); a new cell whose English is that of a vanished or
obsolete entry (a cell re-created or moved to another id) takes its translation over.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import mistune
import nbformat
import polib

from tools.i18n.glossary import KEY_TERMS_MARKER, Glossary, is_key_terms_cell, parse_key_terms
from tools.launch_links import BADGES_TAG
from tools.run_times import COURSE_TABLE_MARKER, RUN_TIME_MARKER, NotebookTimes, without_times

__all__ = [
    "Source",
    "extract",
    "merge",
    "new_catalog",
    "read_catalog",
    "translation_problems",
    "write_catalog",
]

WRAP = 100
SIMILAR = 0.75
"""How alike (difflib ratio) a new cell's English must be to a vanished one's to inherit its translation as fuzzy."""


@dataclass(frozen=True)
class Source:
    """One thing to translate: where it is (``ctxt``), the English (``msgid``), a note for translators."""

    ctxt: str
    msgid: str
    comment: str = ""


def _tags(cell: dict) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _comment(cell: dict) -> str:
    tags = _tags(cell)
    if "solution" in tags:
        return "model answer (an open question's; the learners' copy leaves it out)"
    if "instructor" in tags:
        return "instructors' note (the learners' copy leaves it out)"
    return ""


def extract(notebook: nbformat.NotebookNode, name: str, glossary: Glossary,
            rows: Sequence[NotebookTimes] = ()) -> list[Source]:
    """What there is to translate in an English notebook, in cell order (``rows``: the times table,
    whose topics the course table shows)."""
    sources: list[Source] = []
    seen: set[str] = set()
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "markdown" or BADGES_TAG in _tags(cell):
            continue
        cell_id = cell.get("id")
        if not cell_id:
            raise ValueError(f"{name}, cell {index}: no cell id; save the notebook from JupyterLab "
                             f"(nbformat 4.5 or newer gives every cell one).")
        if cell_id in seen:
            raise ValueError(f"{name}: two cells have the id {cell_id!r}; give one of them a new id.")
        seen.add(cell_id)
        if is_key_terms_cell(cell):
            key_terms = parse_key_terms(cell.source, f"{name}, cell {cell_id}")
            sources.append(Source(cell_id, key_terms.prose(),
                                  f"key terms: keep the line {KEY_TERMS_MARKER}; the table comes from "
                                  f"i18n/glossary.tsv"))
            for term_name, meaning in key_terms.rows:
                if meaning is not None:
                    term = glossary.find(term_name)
                    sources.append(Source(f"{cell_id}/{term.en}", meaning,
                                          f"what “{term.en}” ({term.zh}) means in this notebook"))
        else:
            source = without_times(cell.source)
            sources.append(Source(cell_id, source, _comment(cell)))
            if COURSE_TABLE_MARKER in source:
                sources += [Source(f"{cell_id}/{row.notebook}", row.topic,
                                   f"the topic of {row.notebook} in the course table (notebooks/times.json)")
                            for row in rows]
    return sources


def new_catalog(title: str, language: str) -> polib.POFile:
    catalog = polib.POFile(wrapwidth=WRAP)
    catalog.header = f"{title}: the Chinese edition's text (python -m tools.i18n; see CONTRIBUTING.md)."
    catalog.metadata = {
        "Project-Id-Version": title,
        "Language": language,
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=UTF-8",
        "Content-Transfer-Encoding": "8bit",
        "Plural-Forms": "nplurals=1; plural=0;",
    }
    return catalog


def read_catalog(path: Path) -> polib.POFile:
    return polib.pofile(str(path), wrapwidth=WRAP)


def write_catalog(catalog: polib.POFile, path: Path) -> bool:
    """Write ``catalog`` when its text changed; return whether it did."""
    text = str(catalog) + "\n"
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def _key(entry: polib.POEntry, keyed_by_context: bool) -> str:
    return (entry.msgctxt or "") if keyed_by_context else entry.msgid


def merge(catalog: polib.POFile, sources: Iterable[Source], keyed_by_context: bool = True,
          prune: bool = False) -> polib.POFile:
    """A new catalog with one entry per source, in order, the old translations carried over.

    ``keyed_by_context``: entries are matched by ``msgctxt`` (cells); otherwise by ``msgid``
    (the package's messages, whose English is their key). ``prune``: drop obsolete entries.
    """
    merged = polib.POFile(wrapwidth=WRAP)
    merged.header, merged.metadata = catalog.header, dict(catalog.metadata)
    old = {_key(e, keyed_by_context): e for e in catalog if not e.obsolete}
    obsolete = [e for e in catalog if e.obsolete]
    waiting: list[tuple[polib.POEntry, Source]] = []
    for source in sources:
        entry = polib.POEntry(msgid=source.msgid, msgstr="", comment=source.comment, flags=[])
        if keyed_by_context:
            entry.msgctxt = source.ctxt
        else:
            entry.occurrences = [(source.ctxt, "")]
        before = old.pop(source.ctxt if keyed_by_context else source.msgid, None)
        if before is None:
            waiting.append((entry, source))
        elif before.msgid == source.msgid:
            entry.msgstr, entry.flags = before.msgstr, list(before.flags)
            entry.previous_msgid = before.previous_msgid
            entry.tcomment = before.tcomment
        else:  # the English changed: keep the translation, fuzzy, with the English it was made for
            _inherit(entry, before, fuzzy=True)
        merged.append(entry)
    vanished = list(old.values())
    for entry, _source in waiting:  # a new cell: the same English as a vanished or obsolete one?
        pool = vanished + obsolete
        same = next((e for e in pool if e.msgid == entry.msgid and e.msgstr), None)
        if same is not None:
            _inherit(entry, same, fuzzy="fuzzy" in same.flags)
        else:
            close = max(((difflib.SequenceMatcher(None, e.msgid, entry.msgid).ratio(), i) for i, e in
                         enumerate(pool) if e.msgstr), default=(0.0, -1))
            if close[0] < SIMILAR:
                continue
            same = pool[close[1]]
            _inherit(entry, same, fuzzy=True)
        for pool_list in (vanished, obsolete):
            pool_list[:] = [e for e in pool_list if e is not same]
    if not prune:
        for entry in vanished + obsolete:
            if entry.msgstr:  # an untranslated entry that is gone is simply gone
                gone = copy.deepcopy(entry)  # the catalog passed in stays as it was
                gone.obsolete = True
                merged.append(gone)
    return merged


def _inherit(entry: polib.POEntry, before: polib.POEntry, fuzzy: bool) -> None:
    entry.msgstr, entry.tcomment = before.msgstr, before.tcomment
    if fuzzy and before.msgstr:
        entry.flags = ["fuzzy"]
        # the English the translation was made for: the first one, if it was fuzzy already
        entry.previous_msgid = before.previous_msgid if "fuzzy" in before.flags and before.previous_msgid else before.msgid
    else:
        entry.flags = [f for f in before.flags if f != "fuzzy"]


_CODE = re.compile(r"(`+)(.+?)\1", re.S)
_MATH = re.compile(r"\$\$.+?\$\$|\$[^$\n]+\$", re.S)
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_QUOTE = re.compile(r"“([^”]*[\u4e00-\u9fff][^”]*)”|\"([^\"]*[\u4e00-\u9fff][^\"]*)\"|「([^」]*[\u4e00-\u9fff][^」]*)」")
_NUMBER = re.compile(r"(?<![A-Za-z0-9_.])\d+(?:\.\d+)?")
_HEADING = re.compile(r"^(#{1,6}) ")
_TASK = re.compile(r"^\*\*\d+\. ")


def _stray_emphasis(text: str) -> int:
    """How many ``*`` Markdown (CommonMark's rules, as JupyterLab and GitHub apply them) shows as text."""
    html = mistune.html(_MATH.sub(" ", text))
    return re.sub(r"<code>.*?</code>", " ", html, flags=re.S).count("*")


def quotes(text: str) -> list[str]:
    """The Chinese passages ``text`` quotes (in “…”, "…" or 「…」): quotes of the notes."""
    return [next(g for g in match.groups() if g is not None) for match in _QUOTE.finditer(text)]


def translation_problems(msgid: str, msgstr: str) -> list[str]:
    """What a translation lost of its English: code, formulas, links, numbers, quotes, heading, task number."""
    problems: list[str] = []
    prose = _MATH.sub(" ", _CODE.sub(" ", msgid))
    kept = [
        ("code", [m.group(0) for m in _CODE.finditer(msgid)]),
        ("formula", _MATH.findall(_CODE.sub(" ", msgid))),
        ("link", _LINK.findall(msgid)),
        ("quote of the notes", quotes(msgid)),
        ("marker", [m for m in (KEY_TERMS_MARKER, RUN_TIME_MARKER, COURSE_TABLE_MARKER) if m in msgid]),
    ]
    for what, pieces in kept:
        missing = [p for p in dict.fromkeys(pieces) if p not in msgstr]
        problems += [f"the translation lacks the {what} {p!r}" for p in missing]
    numbers = set(_NUMBER.findall(prose)) - set(_NUMBER.findall(_MATH.sub(" ", _CODE.sub(" ", msgstr))))
    if numbers:
        problems.append(f"the translation lacks the number(s) {sorted(numbers)} (numbers are computed, keep them as digits)")
    if _stray_emphasis(msgstr) > _stray_emphasis(msgid):
        problems.append("the translation has emphasis marks that Markdown leaves as * (a closing ** or * "
                        "right after Chinese punctuation and before a character does not close: write "
                        "**运行时间**：, not **运行时间：**)")
    for what, pattern in (("heading level", _HEADING), ("exercise number", _TASK)):
        english, chinese = pattern.match(msgid), pattern.match(msgstr)
        if (english.group(0) if english else None) != (chinese.group(0) if chinese else None):
            problems.append(f"the translation must start with the same {what} as the English "
                            f"({english.group(0).strip() if english else 'none'!r})")
    return problems
