"""``python -m tools.run_times [--check]``: the notebooks' run times, from one table.

``notebooks/times.json`` holds one row per notebook: its topic, the teaching time (an estimate,
minutes), the measured CPU times in seconds (fast mode; a full run, cold; where the notebook
caches, a second run, warm; a one-off experiment whose results are saved, once) and the GPU time
(``"not measured"``). From it:

- :func:`readme_table` writes the README's times table between ``<!-- times-table -->`` and
  ``<!-- /times-table -->``, the row "all" computed; ``--check`` changes nothing and exits 1 when
  the README is out of date (a test runs it);
- :func:`about_line` gives the one line a notebook or the course table quotes,
  ``"about 4 min on a laptop CPU"``, and :func:`course_table` the table of every notebook with
  it, for 00 to print;
- :func:`stated_times` lists the times a notebook's prose may state (``tools.claims_check``).

Notes in the table (``cpu_full_note``...) state no figure (:func:`tools.figures.prose_figures`):
every figure is a field, so that a re-measurement changes one number in one place.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from tools.figures import prose_figures

__all__ = [
    "README_MARKERS",
    "TIMES_PATH",
    "NotebookTimes",
    "about_line",
    "course_table",
    "load_times",
    "main",
    "readme_table",
    "stated_times",
    "update_readme",
]

ROOT = Path(__file__).resolve().parent.parent
TIMES_PATH = ROOT / "notebooks" / "times.json"
README_MARKERS = ("<!-- times-table -->", "<!-- /times-table -->")
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


def about_line(notebook: str, rows: list[NotebookTimes] | None = None) -> str:
    """``"about N min on a laptop CPU"`` for a notebook's full run (its name or its ``NN`` prefix)."""
    rows = load_times() if rows is None else rows
    for row in rows:
        if row.notebook == notebook or row.notebook.startswith(notebook + "-"):
            if row.cpu_full_s < 60:
                return "under 1 min on a laptop CPU"
            return f"about {about_minutes(row)} min on a laptop CPU"
    raise KeyError(f"{notebook!r} is not in {TIMES_PATH.name}; its rows: {[r.notebook for r in rows]}")


def course_table(rows: list[NotebookTimes] | None = None) -> str:
    """Every notebook, its topic and its :func:`about_line`, as a Markdown table (00 prints it)."""
    rows = load_times() if rows is None else rows
    lines = ["| notebook | topic | full run |", "| --- | --- | --- |"]
    lines += [f"| `{row.notebook}` | {row.topic} | {about_line(row.notebook, rows)} |" for row in rows]
    return "\n".join(lines)


def stated_times(notebook: str, rows: list[NotebookTimes] | None = None, course_map: bool = False) -> list[float]:
    """The times (seconds) a notebook's prose may state: its row's, and its :func:`about_line`'s.

    ``course_map``: the notebook that lists every notebook (00) may also state every row's
    :func:`about_line` figure.
    """
    rows = load_times() if rows is None else rows
    times: list[float] = []
    for row in rows:
        if row.notebook == notebook:
            times += [row.cpu_fast_s, row.cpu_full_s, row.teaching_min * 60]
            times += [t for t in (row.cpu_warm_s, row.cpu_once_s) if t is not None]
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


def update_readme(readme: str, rows: list[NotebookTimes]) -> str:
    """``readme`` with the table between :data:`README_MARKERS` replaced by :func:`readme_table`."""
    start, end = README_MARKERS
    if readme.count(start) != 1 or readme.count(end) != 1:
        raise ValueError(f"README.md must hold {start} and {end} once each, around the times table")
    head, rest = readme.split(start)
    _, tail = rest.split(end)
    return f"{head}{start}\n{readme_table(rows)}\n{end}{tail}"


def main(argv: list[str] | None = None) -> int:
    """Write the README's times table from ``notebooks/times.json`` (``--check``: only compare)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if README.md is out of date")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = parser.parse_args(argv)
    readme = args.readme.read_text(encoding="utf-8")
    updated = update_readme(readme, load_times())
    if updated == readme:
        return 0
    if args.check:
        print(f"{args.readme}: the times table is out of date; run `python -m tools.run_times`", file=sys.stderr)
        return 1
    args.readme.write_text(updated, encoding="utf-8")
    print(f"{args.readme}: times table written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
