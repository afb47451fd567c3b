"""The four commands: ``update`` the catalogs, ``build`` the Chinese notebooks, ``check`` everything, ``status``.

Each takes the repository root, so that the tests can run them on a copy. ``check`` returns the
problems as sentences that name the notebook and the cell (empty when all is well); the others
return what they changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import nbformat
import polib

from tools.i18n.catalogs import (
    Source,
    extract,
    merge,
    new_catalog,
    quotes,
    read_catalog,
    translation_problems,
    write_catalog,
)
from tools.i18n.editions import edition, edition_text, readme_course_table
from tools.i18n.glossary import (
    KEY_TERMS_TAG,
    Glossary,
    GlossaryError,
    english_key_terms,
    is_key_terms_cell,
    read_glossary,
)
from tools.i18n.layout import (
    LANGUAGE,
    catalog_path,
    edition_path,
    english_notebooks,
    glossary_path,
    select,
    translated_notebooks,
)
from tools.i18n.messages import (
    compiled,
    extract_messages,
    messages_catalog_path,
    placeholder_problems,
)
from tools.launch_links import repository, runtime_requirements
from tools.run_times import NotebookTimes, load_times

__all__ = ["Project", "build", "check", "status", "update"]

KEY_TERMS_HEADING = "## Key terms"


@dataclass
class Project:
    """One checkout: its root, the language, and what the commands read once."""

    root: Path
    language: str = LANGUAGE
    notes: Path | None = None  # the lecture notes, to check quotes and the glossary against
    _notebooks: dict[Path, nbformat.NotebookNode] = field(default_factory=dict, repr=False)

    @cached_property
    def glossary(self) -> Glossary:
        return read_glossary(glossary_path(self.root))

    @cached_property
    def times(self) -> list[NotebookTimes]:
        """The times table (``notebooks/times.json``): run-time lines, the course table's topics."""
        return load_times(self.root / "notebooks" / "times.json")

    def english(self, path: Path) -> nbformat.NotebookNode:
        if path not in self._notebooks:
            self._notebooks[path] = nbformat.read(path, as_version=4)
        return self._notebooks[path]

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def sources(self, path: Path) -> list[Source]:
        return extract(self.english(path), self.rel(path), self.glossary, self.times)

    def written(self, path: Path) -> str:
        """The Chinese notebook of ``path`` as the build writes it now."""
        catalog = read_catalog(catalog_path(path, self.root, self.language))
        target = edition_path(path, self.root, self.language)
        made = edition(self.english(path), catalog, self.glossary, path_in_repo=self.rel(target),
                       source_in_repo=self.rel(path), repo=repository(self.root),
                       requirements=runtime_requirements(self.root), language=self.language,
                       rows=self.times, translated=[p.stem for p in translated_notebooks(self.root, self.language)])
        return edition_text(made)

    def readme(self) -> tuple[Path, str | None]:
        """``README.<language>.md`` and its text with the course table as the build writes it now
        (``None`` when the README or notebook 00's catalog does not exist)."""
        path = self.root / f"README.{self.language.replace('_', '-')}.md"
        zero = self.root / "notebooks" / "00-start-here.ipynb"
        po = catalog_path(zero, self.root, self.language)
        if not path.exists() or not po.exists():
            return path, None
        translated = [p.stem for p in translated_notebooks(self.root, self.language)]
        return path, readme_course_table(path.read_text(encoding="utf-8"), self.english(zero), read_catalog(po),
                                         self.times, self.language, translated)


def _write(path: Path, text: str) -> bool:
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def _key_terms_english(project: Project, path: Path) -> bool:
    """Tag the key-terms cell and write its table from the glossary; return whether the notebook changed."""
    notebook = project.english(path)
    changed = False
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and cell.source.startswith(KEY_TERMS_HEADING) and not is_key_terms_cell(cell):
            cell.metadata["tags"] = [*cell.metadata.get("tags", []), KEY_TERMS_TAG]
            changed = True
        if is_key_terms_cell(cell):
            text = english_key_terms(project.glossary, cell.source, f"{project.rel(path)}, cell {cell.id}")
            changed |= text != cell.source
            cell.source = text
    return changed and _write(path, nbformat.writes(notebook) + "\n")


def update(root: Path, names: Sequence[str] = (), prune: bool = False, language: str = LANGUAGE) -> list[str]:
    """Merge the English into the catalogs (named notebooks join the edition; default: those in it)."""
    project = Project(root, language)
    changed: list[str] = []
    for path in select(names, root) if names else translated_notebooks(root, language):
        if _key_terms_english(project, path):
            changed.append(project.rel(path))
        target = catalog_path(path, root, language)
        old = read_catalog(target) if target.exists() else new_catalog(path.stem, language)
        if write_catalog(merge(old, project.sources(path), prune=prune), target):
            changed.append(project.rel(target))
    target = messages_catalog_path(root, language)
    old = read_catalog(target) if target.exists() else new_catalog("course_utils messages", language)
    if write_catalog(merge(old, extract_messages(root), keyed_by_context=False, prune=prune), target):
        changed.append(project.rel(target))
    return changed


def build(root: Path, names: Sequence[str] = (), language: str = LANGUAGE) -> list[str]:
    """Write the Chinese notebooks (of the named notebooks; default: every one with a catalog) and the .mo."""
    project = Project(root, language)
    changed = []
    for path in select(names, root) if names else translated_notebooks(root, language):
        if not catalog_path(path, root, language).exists():
            raise FileNotFoundError(f"{path.name} has no catalog yet: run `python -m tools.i18n update {path.name[:2]}` first.")
        target = edition_path(path, root, language)
        if _write(target, project.written(path)):
            changed.append(project.rel(target))
    readme, text = project.readme()
    if text is not None and _write(readme, text):
        changed.append(project.rel(readme))
    po = messages_catalog_path(root, language)
    if po.exists():
        mo = po.with_suffix(".mo")
        data = compiled(read_catalog(po))
        if not mo.exists() or mo.read_bytes() != data:
            mo.write_bytes(data)
            changed.append(project.rel(mo))
    return changed


def _first_words(text: str) -> str:
    line = next((line for line in text.splitlines() if line.strip()), "").strip()
    return line if len(line) <= 60 else line[:57] + "..."


def _entry_problems(where: str, sources: list[Source], catalog: polib.POFile, by_context: bool,
                    fix: str) -> list[str]:
    """Missing, stale, untranslated, fuzzy and obsolete entries, and translations that lost something."""
    key = (lambda e: e.msgctxt) if by_context else (lambda e: e.msgid)
    entries = {key(e): e for e in catalog if not e.obsolete}
    problems = []
    for source in sources:
        name = source.ctxt if by_context else repr(_first_words(source.msgid))
        label = f"{where}, cell {name}" if by_context else f"{where}, message {name}"
        entry = entries.pop(source.ctxt if by_context else source.msgid, None)
        english = f"(“{_first_words(source.msgid)}”)"
        if entry is None:
            problems.append(f"{label}: missing from the catalog {english}; {fix}")
        elif entry.msgid != source.msgid:
            problems.append(f"{label}: the English changed since the catalog was updated {english}; {fix}")
        elif not entry.msgstr:
            problems.append(f"{label}: not translated {english}")
        elif "fuzzy" in entry.flags:
            problems.append(f"{label}: fuzzy, the English changed {english}: update the translation, "
                            f"then delete the `#, fuzzy` line and the `#| msgid` lines above it")
        else:
            # a cell's braces are text (its formulas are checked whole); a message's are placeholders
            lost = (translation_problems(entry.msgid, entry.msgstr) if by_context
                    else placeholder_problems(entry.msgid, entry.msgstr))
            problems += [f"{label}: {problem}" for problem in lost]
    for entry in entries.values():
        problems.append(f"{where}: entry {entry.msgctxt or repr(_first_words(entry.msgid))} is in the catalog "
                        f"but not in the English; {fix}")
    for entry in catalog.obsolete_entries():
        name = entry.msgctxt or repr(_first_words(entry.msgid))
        problems.append(f"{where}: obsolete entry {name} (its English is gone): delete it, or run "
                        f"`python -m tools.i18n update --prune`")
    return problems


def _notes_text(project: Project) -> str | None:
    return project.notes.read_text(encoding="utf-8") if project.notes and project.notes.exists() else None


def check(root: Path, language: str = LANGUAGE, notes: Path | None = None) -> list[str]:
    """Every problem of the edition, one sentence each; nothing when it is complete and current."""
    project = Project(root, language, notes)
    fix = "run `make translations` (python -m tools.i18n update)"
    notes_text = _notes_text(project)
    try:
        glossary = project.glossary
    except GlossaryError as error:
        return [str(error)]
    problems: list[str] = []
    if notes_text is not None:
        for term in glossary.terms:
            problems += [f"i18n/glossary.tsv, term {term.en!r}: {words!r} is not the notes' words, verbatim"
                         for words in ((term.zh,) if term.source == "notes" else ()) + ((term.notes,) if term.notes else ())
                         if words not in notes_text]
    for path in translated_notebooks(root, language):
        where = project.rel(path)
        try:
            sources = project.sources(path)
        except (ValueError, GlossaryError) as error:
            problems.append(str(error))
            continue
        for cell in project.english(path).cells:
            if is_key_terms_cell(cell) and english_key_terms(glossary, cell.source, where) != cell.source:
                problems.append(f"{where}, cell {cell.id}: the key-terms table is not as the glossary writes it; {fix}")
            elif cell.cell_type == "markdown" and cell.source.startswith(KEY_TERMS_HEADING) and not is_key_terms_cell(cell):
                problems.append(f"{where}, cell {cell.id}: a key-terms cell without the tag {KEY_TERMS_TAG!r}; {fix}")
            if notes_text is not None and cell.cell_type == "markdown":
                problems += [f"{where}, cell {cell.id}: the quote “{q}” is not in the notes, verbatim"
                             for q in quotes(cell.source) if q not in notes_text]
        catalog = read_catalog(catalog_path(path, root, language))
        problems += _entry_problems(where, sources, catalog, True, fix)
        target = edition_path(path, root, language)
        if not target.exists() or target.read_text(encoding="utf-8") != project.written(path):
            problems.append(f"{project.rel(target)}: not what the build writes now; run `make translations`")
    readme, text = project.readme()
    if text is not None and readme.read_text(encoding="utf-8") != text:
        problems.append(f"{project.rel(readme)}: its course table is not what the build writes now; run `make translations`")
    english = {p.name for p in english_notebooks(root)}
    translated = {p.name for p in translated_notebooks(root, language)}
    for orphan in sorted((root / "notebooks" / language).glob("*.ipynb")):
        if orphan.name not in english or orphan.name not in translated:
            problems.append(f"{project.rel(orphan)}: no English notebook or no catalog for it; delete it")
    po = messages_catalog_path(root, language)
    if po.exists():
        catalog = read_catalog(po)
        problems += _entry_problems(project.rel(po), extract_messages(root), catalog, False, fix)
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.read_bytes() != compiled(catalog):
            problems.append(f"{project.rel(mo)}: not compiled from the .po as it is; run `make translations`")
    elif extract_messages(root):
        problems.append(f"{project.rel(po)}: missing; {fix}")
    return problems


def status(root: Path, language: str = LANGUAGE) -> str:
    """Which notebooks are in the edition, how far each is translated, and which cells need work."""
    project = Project(root, language)
    lines = [f"Chinese edition ({language}): {len(translated_notebooks(root, language))} of "
             f"{len(english_notebooks(root))} notebooks"]
    todo: list[str] = []
    for path in english_notebooks(root):
        target = catalog_path(path, root, language)
        if not target.exists():
            lines.append(f"  {path.stem:<38} not started: python -m tools.i18n update {path.name[:2]}")
            continue
        entries = {e.msgctxt: e for e in read_catalog(target) if not e.obsolete}
        sources = project.sources(path)
        done = 0
        for source in sources:
            entry = entries.get(source.ctxt)
            state = ("new" if entry is None or entry.msgid != source.msgid and not entry.msgstr else
                     "stale" if entry.msgid != source.msgid else
                     "untranslated" if not entry.msgstr else "fuzzy" if "fuzzy" in entry.flags else "")
            if state:
                todo.append(f"  {path.name} cell {source.ctxt} [{state}] {_first_words(source.msgid)}")
            else:
                done += 1
        lines.append(f"  {path.stem:<38} {done}/{len(sources)} translated")
    po = messages_catalog_path(root, language)
    if po.exists():
        catalog = read_catalog(po)
        messages = extract_messages(root)
        usable = {e.msgid for e in catalog if e.msgstr and not e.obsolete and "fuzzy" not in e.flags}
        lines.append(f"  {'messages (course_utils)':<38} {sum(m.msgid in usable for m in messages)}/{len(messages)} translated")
        known = {e.msgid: e for e in catalog if not e.obsolete}
        for message in messages:
            if message.msgid not in usable:
                entry = known.get(message.msgid)
                state = "new" if entry is None else "fuzzy" if entry.msgstr else "untranslated"
                todo.append(f"  {po.relative_to(root).as_posix()} [{state}] {_first_words(message.msgid)}")
    lines += (["To translate (edit the .po files, then `make translations`):", *todo] if todo
              else ["Nothing to translate."])
    return "\n".join(lines)
