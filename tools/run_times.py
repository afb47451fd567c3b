"""``python -m tools.run_times [--check]``: the notebooks' run times, from one table.

``notebooks/times.json`` holds one row per notebook: its topic, the teaching time (an estimate,
minutes), the measured CPU times in seconds (fast mode; a full run, cold; where the notebook
caches, a second run, warm; a one-off experiment whose results are saved, once) and the GPU time
(``"not measured"``). From it:

- :func:`readme_table` writes the README's times table between ``<!-- times-table -->`` and
  ``<!-- /times-table -->``, the row "all" computed; ``--check`` changes nothing and exits 1 when
  the README is out of date (a test runs it);
- :func:`about_line` gives the figure a notebook or the course table quotes,
  ``"about 4 min on a laptop CPU"``; :func:`run_time_line` the line that states it at the top of a
  notebook, and :func:`course_table` notebook 00's table of every notebook (topic, teaching time,
  full run), in English or Chinese;
- :func:`stated_times` lists the times a notebook's prose may state (``tools.claims_check``).

Nobody types a notebook's time. A notebook's title cell holds the line
``**Time to run:** about 4 min on a laptop CPU, ... <!-- run-time -->``, and notebook 00 the
line ``<!-- course-table -->`` right above its course table: ``python -m tools.run_times``
rewrites what each marker governs (:func:`with_times`), so after a re-measurement one command
brings the README and every notebook up to date; a notebook joins by writing the bare marker
where its line goes. The Chinese edition writes the same lines from the Chinese template
(``tools.i18n``): its catalogs hold the markers, not the figures (:func:`without_times`), so a
new measurement never makes a translation fuzzy.

Notes in the table (``cpu_full_note``...) state no figure (:func:`tools.figures.prose_figures`):
every figure is a field, so that a re-measurement changes one number in one place.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import nbformat

from tools.figures import prose_figures

__all__ = [
    "COURSE_TABLE_MARKER",
    "README_MARKERS",
    "RUN_TIME_MARKER",
    "TIMES_PATH",
    "NotebookTimes",
    "about_line",
    "about_minutes",
    "course_table",
    "load_times",
    "main",
    "readme_table",
    "replace_between",
    "run_time_line",
    "stated_times",
    "update_notebook",
    "update_readme",
    "with_times",
    "without_times",
]

ROOT = Path(__file__).resolve().parent.parent
TIMES_PATH = ROOT / "notebooks" / "times.json"
README_MARKERS = ("<!-- times-table -->", "<!-- /times-table -->")
RUN_TIME_MARKER = "<!-- run-time -->"
"""Ends the line of a notebook that states its run time; the line before it is generated."""
COURSE_TABLE_MARKER = "<!-- course-table -->"
"""A line of its own, right above the course table (notebook 00), which is generated."""
_OPTIONAL = ("cpu_full_note", "cpu_warm_s", "cpu_warm_note", "cpu_once_s", "cpu_once_note")


@dataclass(frozen=True)
class NotebookTimes:
    """One notebook's row of the times table (seconds measured, teaching minutes estimated)."""

    notebook: str
    topic: str
    teaching_min: float
    cpu_fast_s: float
    cpu_full_s: float
    gpu: str
    cpu_full_note: str = ""
    cpu_warm_s: float | None = None
    cpu_warm_note: str = ""
    cpu_once_s: float | None = None
    cpu_once_note: str = ""


def load_times(path: Path = TIMES_PATH) -> list[NotebookTimes]:
    """The rows of ``path``, in notebook order; a clear error for a malformed row."""
    rows = json.loads(path.read_text(encoding="utf-8"))["notebooks"]
    fields = set(NotebookTimes.__dataclass_fields__)
    times = []
    for row in rows:
        unknown, missing = set(row) - fields, fields - set(row) - set(_OPTIONAL)
        if unknown or missing:
            raise ValueError(f"{path}: row {row.get('notebook')!r}: unknown fields {sorted(unknown)}, "
                             f"missing {sorted(missing)}; the fields are {sorted(fields)}")
        notes = [row.get(key, "") for key in ("topic", "cpu_full_note", "cpu_warm_note", "cpu_once_note")]
        stated = [f.text for note in notes for f in prose_figures(note)]
        if stated:
            raise ValueError(f"{path}: row {row['notebook']!r} states {stated} in words; put figures in a *_s field")
        times.append(NotebookTimes(**row))
    return times


def _seconds(seconds: float, decimals: int = 0, largest: str = "h") -> str:
    """``7 s``, ``3.2 s`` (with ``decimals``), ``3.5 min``, ``10 min``, ``9 h`` (up to ``largest``)."""
    if seconds < 60 or largest == "s":
        return f"{seconds:.{decimals}f} s"
    value, unit = (seconds / 60, "min") if seconds < 3600 else (seconds / 3600, "h")
    return f"{value:.1f}".removesuffix(".0") + f" {unit}"


def _full_run(row: NotebookTimes) -> str:
    text = _seconds(row.cpu_full_s) + (" cold" if row.cpu_warm_s is not None else "")
    text += f" ({row.cpu_full_note})" if row.cpu_full_note else ""
    if row.cpu_warm_s is not None:
        text += f"; {_seconds(row.cpu_warm_s)} {row.cpu_warm_note}".rstrip()
    if row.cpu_once_s is not None:
        text += f" (+ {_seconds(row.cpu_once_s)} {row.cpu_once_note})".replace(" )", ")")
    return text


def about_minutes(row: NotebookTimes) -> int:
    """The full (cold) run in whole minutes, rounded half up, at least 1."""
    return max(1, math.floor(row.cpu_full_s / 60 + 0.5))


# The template of each language: what the generated lines and the course table say.
_TEMPLATES = {
    "en": {
        "under": "under 1 min", "about": "about {minutes} min", "where": "{about} on a laptop CPU",
        "line": "**Time to run:** {line}, for a full run from top to bottom.",
        "header": ("notebook", "topic", "teaching time (estimate)", "full run on a laptop CPU"),
        "teaching": "{minutes:g} min",
    },
    "zh_CN": {
        "under": "不到 1 分钟", "about": "约 {minutes} 分钟", "where": "在笔记本电脑的 CPU 上{about}",
        "line": "**运行时间**：从头到尾完整运行一遍，{line}。",
        "header": ("笔记本", "主题", "课堂时间（估计）", "完整运行（笔记本电脑的 CPU）"),
        "teaching": "{minutes:g} 分钟",
    },
}


def _template(language: str) -> dict:
    if language not in _TEMPLATES:
        raise ValueError(f"no run-time template for {language!r}; the templates: {sorted(_TEMPLATES)}")
    return _TEMPLATES[language]


def _row(notebook: str, rows: list[NotebookTimes]) -> NotebookTimes:
    for row in rows:
        if row.notebook == notebook or row.notebook.startswith(notebook + "-"):
            return row
    raise KeyError(f"{notebook!r} is not in {TIMES_PATH.name}; its rows: {[r.notebook for r in rows]}")


def _about(row: NotebookTimes, language: str = "en") -> str:
    """``about 4 min`` (``under 1 min`` below a minute): the full run in whole minutes."""
    words = _template(language)
    return words["under"] if row.cpu_full_s < 60 else words["about"].format(minutes=about_minutes(row))


def about_line(notebook: str, rows: list[NotebookTimes] | None = None, language: str = "en") -> str:
    """``"about N min on a laptop CPU"`` for a notebook's full run (its name or its ``NN`` prefix)."""
    rows = load_times() if rows is None else rows
    return _template(language)["where"].format(about=_about(_row(notebook, rows), language))


def run_time_line(notebook: str, rows: list[NotebookTimes] | None = None, language: str = "en") -> str:
    """The line at the top of a notebook that states its run time (without its marker)."""
    return _template(language)["line"].format(line=about_line(notebook, rows, language))


def course_table(rows: list[NotebookTimes] | None = None, language: str = "en",
                 topics: Mapping[str, str] | None = None, links: Mapping[str, str] | None = None) -> str:
    """Every notebook: its topic, teaching time and full run, as a Markdown table (notebook 00's).

    ``topics``: a notebook's topic in ``language`` (default: the English of the times table);
    ``links``: where a notebook's name links to (default: ``NN-name.ipynb``, next to 00).
    """
    rows = load_times() if rows is None else rows
    words = _template(language)
    lines = ["| " + " | ".join(words["header"]) + " |", "| --- | --- | ---: | --- |"]
    for row in rows:
        link = (links or {}).get(row.notebook, f"{row.notebook}.ipynb")
        topic = (topics or {}).get(row.notebook, row.topic)
        teaching = words["teaching"].format(minutes=row.teaching_min)
        lines.append(f"| [`{row.notebook}`]({link}) | {topic} | {teaching} | {_about(row, language)} |")
    return "\n".join(lines)


def stated_times(notebook: str, rows: list[NotebookTimes] | None = None, course_map: bool = False) -> list[float]:
    """The times (seconds) a notebook's prose may state: its row's, and its :func:`about_line`'s.

    ``course_map``: the notebook that lists every notebook (00) may also state what its
    :func:`course_table` states of every row: the teaching time and the :func:`about_line` figure.
    """
    rows = load_times() if rows is None else rows
    times: list[float] = []
    for row in rows:
        if row.notebook == notebook:
            times += [row.cpu_fast_s, row.cpu_full_s, row.teaching_min * 60]
            times += [t for t in (row.cpu_warm_s, row.cpu_once_s) if t is not None]
        elif course_map:
            times.append(row.teaching_min * 60)
        if row.notebook == notebook or course_map:
            times.append(60.0 * about_minutes(row) if row.cpu_full_s >= 60 else 60.0)
    return times


def readme_table(rows: list[NotebookTimes]) -> str:
    """The README's times table, one row per notebook and the row "all", computed."""
    lines = [
        "| notebook | topic | teaching time (estimate) | CPU, fast mode | CPU, full run | a learner's full run | GPU |",
        "| --- | --- | ---: | ---: | ---: | --- | --- |",
    ]
    for row in rows:
        lines.append(f"| `{row.notebook}` | {row.topic} | {row.teaching_min:g} min | "
                     f"{_seconds(row.cpu_fast_s, 1, 's')} | {_full_run(row)} | {about_line(row.notebook, rows)} | {row.gpu} |")
    teaching = sum(r.teaching_min for r in rows) * 60
    fast = sum(r.cpu_fast_s for r in rows)
    full = sum(r.cpu_full_s for r in rows)
    once = sum(r.cpu_once_s or 0 for r in rows)
    full_text = _seconds(full) + " cold" + (f" (+ {_seconds(once)} once)" if once else "")
    gpu = rows[0].gpu if len({r.gpu for r in rows}) == 1 else ""
    lines.append(f"| all | | about {_seconds(teaching)} | {_seconds(fast, 1, 's')} | {full_text} | | {gpu} |")
    return "\n".join(lines)


def replace_between(text: str, markers: tuple[str, str], body: str, *, name: str, what: str) -> str:
    """``text`` with what stands between its two ``markers`` replaced by ``body`` (a generated block).

    Refused with a sentence naming the file (``name``) and the block (``what``) unless each marker
    stands exactly once.
    """
    start, end = markers
    if text.count(start) != 1 or text.count(end) != 1:
        raise ValueError(f"{name} must hold {start} and {end} once each, around {what}")
    head, rest = text.split(start)
    _, tail = rest.split(end)
    return f"{head}{start}\n{body}{end}{tail}"


def update_readme(readme: str, rows: list[NotebookTimes]) -> str:
    """``readme`` with the table between :data:`README_MARKERS` replaced by :func:`readme_table`."""
    return replace_between(readme, README_MARKERS, readme_table(rows) + "\n", name="README.md", what="the times table")


_RUN_TIME_LINE = re.compile(r"^.*" + re.escape(RUN_TIME_MARKER) + r"[ \t]*$", re.M)
_COURSE_TABLE = re.compile(r"^" + re.escape(COURSE_TABLE_MARKER) + r"[ \t]*\n(?:[ \t]*\|.*(?:\n|$))*", re.M)


def with_times(source: str, notebook: str, rows: list[NotebookTimes] | None = None, language: str = "en",
               topics: Mapping[str, str] | None = None, links: Mapping[str, str] | None = None) -> str:
    """``source`` (a markdown cell) with its generated lines as the times table says now.

    The line that ends with :data:`RUN_TIME_MARKER` becomes :func:`run_time_line` of
    ``notebook``; the table under a :data:`COURSE_TABLE_MARKER` line becomes :func:`course_table`.
    Text without a marker is returned as it is.
    """
    if RUN_TIME_MARKER not in source and COURSE_TABLE_MARKER not in source:
        return source
    rows = load_times() if rows is None else rows
    line = f"{run_time_line(notebook, rows, language)} {RUN_TIME_MARKER}"
    source = _RUN_TIME_LINE.sub(lambda _: line, source)
    table = f"{COURSE_TABLE_MARKER}\n{course_table(rows, language, topics, links)}"
    return _COURSE_TABLE.sub(lambda m: table + ("\n" if m.group(0).endswith("\n") else ""), source)


def without_times(source: str) -> str:
    """``source`` with the generated lines taken out, their markers left: what a translation translates."""
    source = _RUN_TIME_LINE.sub(lambda _: RUN_TIME_MARKER, source)
    return _COURSE_TABLE.sub(lambda m: COURSE_TABLE_MARKER + ("\n" if m.group(0).endswith("\n") else ""), source)


def update_notebook(notebook: nbformat.NotebookNode, name: str, rows: list[NotebookTimes] | None = None) -> bool:
    """Rewrite the generated lines of an English notebook (in place); return whether any changed."""
    changed = False
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            text = with_times(cell.source, name, rows)
            changed |= text != cell.source
            cell.source = text
    return changed


def _notebook_updates(folder: Path, rows: list[NotebookTimes]) -> dict[Path, str]:
    """The English notebooks whose generated lines are out of date, with their new text."""
    updates = {}
    for path in sorted(folder.glob("[0-9][0-9]-*.ipynb")):
        notebook = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
        if update_notebook(notebook, path.stem, rows):
            updates[path] = nbformat.writes(notebook) + "\n"
    return updates


def main(argv: list[str] | None = None) -> int:
    """Write the README's times table and the notebooks' run-time lines (``--check``: only compare)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if README.md or a notebook is out of date")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--notebooks", type=Path, default=ROOT / "notebooks", help="the English notebooks' folder")
    args = parser.parse_args(argv)
    rows = load_times()
    readme = args.readme.read_text(encoding="utf-8")
    updates = _notebook_updates(args.notebooks, rows)
    updated = update_readme(readme, rows)
    if updated != readme:
        updates[args.readme] = updated
    for path, text in updates.items():
        if args.check:
            print(f"{path}: its times are out of date; run `python -m tools.run_times`", file=sys.stderr)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"{path}: times written")
    if updates and not args.check and any(p.suffix == ".ipynb" for p in updates):
        print("then rebuild the Chinese edition: python -m tools.i18n build")
    return 1 if args.check and updates else 0


if __name__ == "__main__":
    sys.exit(main())
