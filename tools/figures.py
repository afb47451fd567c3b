"""Figures in text: what a sentence states (prose) and what a cell printed or typed (sources).

A *figure* is a number that claims something measurable: a percentage (``87.5 %``, ``+1.3
points``), a decimal (``0.875``, ``3e-3``), a time (``176 s``, ``3 min``, ``about 3 minutes``,
``a minute``, ``1.5 h``, ``3 days``), a ratio (``12×``, ``12x``, ``×0.1``, ``12 times more``), a
rounded count (``61 million``), a size (``230 MB``, ``160 px``), and, always wrong in a
notebook's prose, a date (``2026-11-30``) or a load average (``load average about 7``).

Not figures (:func:`prose_figures` masks them before looking):

- code: inline ``code`` and fenced code blocks; LaTeX math (``$...$``, ``$$...$$``);
- links' targets, images, HTML tags and bare URLs (a link's text is prose and is read);
- software versions (``PyTorch 2.5``, ``Python 3.10``, ``1.2.3``) and references (``§8.6``);
- the numbering of headings (``## 4 · Stage 1``);
- shapes and products (``224×224``, ``5×5×3``, ``10 × 75``, ``2 · 32·32·16``): sizes of the notes
  or constants of code, and arithmetic shown step by step;
- plain integers without a unit (``three 3×3 layers``, ``102 classes``, ``16 + 3 = 19``): counts,
  indices and exact arithmetic. An integer is a figure only with a unit (``%``, a time, ``×``,
  ``times`` before a comparison, ``million``, ``MB``, ``px``);
- ``N times`` that counts events (``used 4 times instead of once``): ``times`` is a ratio only
  before a comparative (``4 times less``, ``8 times smaller``, ``twice as``) or a possessive
  (``20 times AlexNet's``).

Precision: a figure written with ``d`` decimals stands for every value within half a unit of its
last digit (``87.5`` for 87.45-87.55, ``3 min`` for 2.5-3.5 minutes; a tie rounds either way).
After a hedge (``about``, ``roughly``, ``~``, ``≈``, ``nearly``, ``almost``, ``around``) an
integer's trailing zeros are not significant: ``about 20 times`` stands for 15-25.
"""

from __future__ import annotations

import html
import io
import re
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass, replace

__all__ = [
    "Figure",
    "code_literals",
    "prose_figures",
    "readings",
    "sentence_at",
    "source_figures",
    "stands_for",
]

TIME_UNITS = {  # written unit -> seconds
    "ms": 1e-3, "millisecond": 1e-3, "milliseconds": 1e-3,
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "day": 86400.0, "days": 86400.0,
    "秒": 1.0, "分钟": 60.0, "小时": 3600.0, "天": 86400.0,
}
MAGNITUDES = {"thousand": 1e3, "million": 1e6, "billion": 1e9}
SIZES = {"KB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 2.0**10, "MiB": 2.0**20, "GiB": 2.0**30, "px": 1.0}
WORD_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
                "seven": 7, "eight": 8, "nine": 9, "ten": 10, "half an": 0.5, "half a": 0.5}
HEDGES = ("about", "around", "roughly", "approximately", "nearly", "almost", "some", "~", "≈")
COMPARATIVES = (
    "more|less|fewer|smaller|larger|bigger|faster|slower|higher|lower|deeper|wider|longer|"
    "shorter|cheaper|as|too|the"
)
_SPACE = r"[ \u00a0\u202f]?"
_NUMBER = r"(?P<num>\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.(?P<frac>\d+))?(?:[eE](?P<exp>[-+]?\d+))?"
_UNIT = (
    r"(?P<unit>%|percent\b|percentage points\b|points\b|(?<=\d)×|(?<=\d)x(?!\w)|"
    r"times(?=\s+(?:" + COMPARATIVES + r")\b|\s+\w+'s\b)|"
    + "|".join(sorted((re.escape(u) for u in (*TIME_UNITS, *MAGNITUDES, *SIZES)), key=len, reverse=True))
    + r")(?![A-Za-z0-9_%])"
)
PROSE_NUMBER = re.compile(r"(?<![A-Za-z0-9_.,])(?P<pre>×)?" + _NUMBER + r"(?:" + _SPACE + _UNIT + ")?")
SOURCE_NUMBER = re.compile(r"(?<![A-Za-z0-9_.])(?P<pre>×)?" + _NUMBER + r"(?:" + _SPACE + _UNIT + ")?")
MIN_SEC = re.compile(r"(\d+)" + _SPACE + r"min" + _SPACE + r"(\d+(?:\.(\d+))?)" + _SPACE + r"s\b")
WORD_TIME = re.compile(
    r"\b(?P<word>half an|half a|an|a|one|two|three|four|five|six|seven|eight|nine|ten) "
    r"(?P<unit>minutes?|hours?|days?)(?P<half> and a half)?\b",
    re.IGNORECASE,
)
RANGE_LEFT = re.compile(r"(?<![A-Za-z0-9_.,])(" + _NUMBER + r")" + _SPACE + r"[-–]" + _SPACE + r"$")
_MONTHS = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Jan\.?|Feb\.?|Mar\.?|Apr\.?|Jun\.?|Jul\.?|Aug\.?|Sep\.?|Sept\.?|Oct\.?|Nov\.?|Dec\.?)"
)
DATE = re.compile(
    r"\b\d{4}-\d{1,2}-\d{1,2}\b|\b\d{4}/\d{1,2}/\d{1,2}\b|\d{4}年\d{1,2}月(?:\d{1,2}日)?"
    r"|\b\d{1,2} " + _MONTHS + r",? \d{4}\b|\b" + _MONTHS + r" \d{1,2}(?:st|nd|rd|th)?,? \d{4}\b"
    r"|\b" + _MONTHS + r" \d{4}\b"
)
LOAD = re.compile(
    r"load averages?\b[^.;)\n\d]{0,30}(\d+(?:\.\d+)?(?:" + _SPACE + r"(?:[-–]|to)" + _SPACE + r"\d+(?:\.\d+)?)?)",
    re.IGNORECASE,
)
# Masked before looking for figures (order matters: code and math first).
_MASKS = [
    re.compile(r"^(`{3,}|~{3,}).*?^\1", re.DOTALL | re.MULTILINE),  # fenced code
    re.compile(r"(`+)[^`]*?\1", re.DOTALL),  # inline code
    re.compile(r"\$\$.*?\$\$", re.DOTALL),  # displayed math
    re.compile(r"(?<!\\)\$[^$]+?(?<!\\)\$"),  # inline math
    re.compile(r"!\[[^\]]*\]\([^)]*\)"),  # images
    re.compile(r"(?<=\])\([^)]*\)"),  # a link's target (its text stays)
    re.compile(r"<[^>\n]+>"),  # HTML tags
    re.compile(r"https?://\S+"),  # bare URLs
    re.compile(
        r"\b(?:Python|PyTorch|torch|torchvision|CUDA|NumPy|numpy|JupyterLab|Jupyter|matplotlib|"
        r"Pillow|nbval|pip|version|v)" + _SPACE + r"\d+(?:\.\d+)+"
    ),  # software versions
    re.compile(r"(?<![\w.])\d+(?:\.\d+){2,}(?![\w.])"),  # x.y.z
    re.compile(r"(?:§|\bsection |\bchapter |\bfig\. |\bfigure )" + _SPACE + r"\d+(?:\.\d+)*", re.IGNORECASE),
    re.compile(r"^#{1,6}[ \t]+\d+(?:\.\d+)*", re.MULTILINE),  # heading numbers
    re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:[ \t\u00a0]?[×x*·][ \t\u00a0]?\d+(?:\.\d+)?)+"),  # shapes
]


@dataclass(frozen=True)
class Figure:
    """One number as written, with its unit.

    ``kind`` is ``"percent"``, ``"decimal"``, ``"time"``, ``"ratio"``, ``"count"`` (a magnitude
    word), ``"size"`` (bytes, pixels), ``"date"`` or ``"load"``. ``value`` is the number as written
    (``3`` for ``3 min``), ``scale`` converts it to the kind's unit (seconds, units, bytes),
    ``decimals`` is how many digits it has after the point, and ``hedged`` says whether an
    ``about`` stands before it. ``start``/``end`` locate ``text`` in the cell's source.
    """

    kind: str
    text: str
    value: float
    decimals: int = 0
    scale: float = 1.0
    hedged: bool = False
    start: int = 0
    end: int = 0

    @property
    def amount(self) -> float:
        """The value in the kind's unit (seconds for times)."""
        return self.value * self.scale

    @property
    def half_step(self) -> float:
        """Half a unit of the last significant digit: how far a value may lie and round to this."""
        step = 10.0**-self.decimals
        if self.hedged and self.decimals == 0 and self.value >= 10:
            digits = str(int(self.value))
            step = 10.0 ** (len(digits) - len(digits.rstrip("0")))
        return step / 2


def _mask(text: str) -> str:
    """``text`` with code, math, links, versions, heading numbers and shapes blanked out."""
    for pattern in _MASKS:
        text = pattern.sub(lambda m: re.sub(r"\S", " ", m.group(0)), text)
    return text


def _decimals(frac: str | None, exp: str | None) -> int:
    return max(0, len(frac or "") - int(exp or 0))


def _number(match: re.Match[str]) -> float:
    text = match.group("num").replace(",", "") + ("." + match.group("frac") if match.group("frac") else "")
    return float(text) * 10.0 ** int(match.group("exp") or 0)


def _kind(unit: str | None) -> tuple[str, float]:
    """The kind of figure a unit makes, and the factor to the kind's unit."""
    if not unit:
        return "decimal", 1.0
    if unit in ("%", "percent", "percentage points", "points"):
        return "percent", 1.0
    if unit in ("×", "x", "times"):
        return "ratio", 1.0
    if unit in TIME_UNITS:
        return "time", TIME_UNITS[unit]
    if unit in MAGNITUDES:
        return "count", MAGNITUDES[unit]
    return "size", SIZES[unit]


def _hedged(text: str, start: int) -> bool:
    before = text[max(0, start - 16) : start].rstrip().lower()
    return before.endswith(HEDGES)


def prose_figures(markdown: str) -> list[Figure]:
    """Every figure a markdown cell states, in order (see the module's docstring for what is not)."""
    masked = _mask(markdown)
    found: list[Figure] = []
    for pattern, kind in ((DATE, "date"), (LOAD, "load")):
        for m in pattern.finditer(masked):
            start, end = m.span(1) if kind == "load" else m.span()
            found.append(Figure(kind, markdown[start:end], 0.0, start=start, end=end))
            masked = masked[:start] + " " * (end - start) + masked[end:]
    for m in WORD_TIME.finditer(masked):
        value = WORD_NUMBERS[m.group("word").lower()] + (0.5 if m.group("half") else 0)
        scale = TIME_UNITS[m.group("unit").lower().rstrip("s")]
        found.append(Figure("time", m.group(0), value, int(value % 1 > 0), scale, _hedged(masked, m.start()), *m.span()))
    for m in PROSE_NUMBER.finditer(masked):
        unit = m.group("unit") or ("×" if m.group("pre") else None)
        kind, scale = _kind(unit)
        if unit is None and not (m.group("frac") or m.group("exp")):
            continue  # an integer without a unit: a count, not a claim
        found.append(_figure(m, masked, markdown, kind, scale))
        left = RANGE_LEFT.search(masked, 0, m.start())
        if unit is not None and left is not None:
            # the left end of a range takes the right end's unit: "1-2 minutes", "10-100×"
            found = [f for f in found if f.start != left.start(1)]
            figure = _figure(left, masked, markdown, kind, scale)
            found.append(replace(figure, text=f"{figure.text} (of {markdown[figure.start : m.end()]})"))
    return sorted(found, key=lambda f: f.start)


def _figure(m: re.Match[str], masked: str, original: str, kind: str, scale: float) -> Figure:
    start, end = m.span(1) if m.re is RANGE_LEFT else m.span()
    decimals = _decimals(m.group("frac"), m.group("exp"))
    return Figure(kind, original[start:end].strip(), _number(m), decimals, scale, _hedged(masked, start), start, end)


def source_figures(text: str, html_text: bool = False) -> list[Figure]:
    """Every number in printed output (or in the notes), integers included, with its unit if any."""
    if html_text:
        text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    figures = [
        Figure("time", m.group(0), float(m.group(1)) * 60 + float(m.group(2)), _decimals(m.group(3), None))
        for m in MIN_SEC.finditer(text)
    ]
    for m in SOURCE_NUMBER.finditer(text):
        kind, scale = _kind(m.group("unit") or ("×" if m.group("pre") else None))
        figures.append(Figure(kind, m.group(0), _number(m), _decimals(m.group("frac"), m.group("exp")), scale))
    return figures


def code_literals(source: str) -> list[Figure]:
    """The number literals of a code cell's source (settings such as ``lr=3e-3``); never comments."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    literals = []
    try:
        for token in tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline):
            if token.type == tokenize.NUMBER and not token.string.endswith(("j", "J")):
                number = token.string.replace("_", "")
                number = ("0" + number if number.startswith(".") else number).replace(".e", ".0e")
                m = re.fullmatch(_NUMBER, number + "0" if number.endswith(".") else number)
                if m:
                    literals.append(Figure("decimal", token.string, _number(m), _decimals(m.group("frac"), m.group("exp"))))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        code = "\n".join(line.split("#", 1)[0] for line in lines)
        literals = [f for f in source_figures(code) if f.kind == "decimal"]
    return literals


def readings(source: Figure, how: str = "printed") -> Iterator[tuple[str, float]]:
    """What a source number can stand for in prose: ``(kind, amount)`` pairs.

    ``how`` the source came: ``"printed"`` by a cell, a ``"literal"`` of code, a ``"fact"`` of
    the notes. Every number reads as itself (a decimal), and a number with a unit keeps it:
    ``87.5 %`` reads as 87.5 % and 0.875, ``176 s`` as a time of 176 s, ``22×`` as a ratio. A
    number without a unit written with decimals also reads as a fraction (``0.875`` as 87.5 %); a
    literal with decimals also as a factor (``gamma=0.1`` as ``×0.1``). A printed or typed number
    without a unit may be a count or a size in units (``61,100,840`` for ``61 million``,
    ``IMAGE_SIZE = 160`` for ``160 px``). Nothing else: an
    integer without a unit (a count, a shape, an index) is never a percentage, a ratio or a time,
    and a printed ``3.5`` is not ``3.5 min``: print the unit.
    """
    yield "decimal", source.value
    if source.kind == "decimal":
        if source.decimals > 0:
            yield "percent", source.value * 100
            if how == "literal":
                yield "ratio", source.value
        if how != "fact":
            yield from (("count", source.value), ("size", source.value))
    elif source.kind == "percent":
        yield "percent", source.value
        yield "decimal", source.value / 100
    else:
        yield source.kind, source.amount


def stands_for(figure: Figure, source: Figure, how: str = "printed") -> bool:
    """Whether ``figure`` (prose) may stand for ``source`` (see :func:`readings` for ``how``).

    A printed number or a fact of the notes, converted to the figure's unit, must lie within
    :attr:`Figure.half_step` of the figure as written: the figure is one of its roundings. A
    literal is typed, not measured: the figure must equal it.
    """
    tolerance = 1e-9 * max(1.0, figure.value) if how == "literal" else figure.half_step * (1 + 1e-9) + 1e-12
    return any(
        kind == figure.kind and abs(abs(amount) / figure.scale - figure.value) <= tolerance
        for kind, amount in readings(source, how)
    )


def sentence_at(text: str, start: int, end: int, width: int = 220) -> str:
    """The sentence of ``text`` around ``[start, end)``, on one line, shortened to ``width``."""
    left = max(text.rfind(mark, 0, start) for mark in (". ", ".\n", "\n\n", "\n- ", "! ", "? ", "; "))
    right_candidates = [i for i in (text.find(mark, end) for mark in (". ", ".\n", "\n\n", "\n- ")) if i >= 0]
    right = min(right_candidates) + 1 if right_candidates else len(text)
    snippet = re.sub(r"(?m)^[ \t]*>[ \t]?", "", text[left + 1 if left >= 0 else 0 : right])  # quotes
    sentence = " ".join(snippet.split()).lstrip("- ")
    if len(sentence) > width:
        figure = " ".join(text[start:end].split())
        at = max(0, sentence.find(figure) - width // 2)
        sentence = ("…" if at else "") + sentence[at : at + width] + "…"
    return sentence
