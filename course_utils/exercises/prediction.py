"""Predict, then run: what every prediction checker shares.

A prediction is a moment in the middle of a notebook where the learner commits to an answer
(an output shape, a parameter count) *before* the cell that reveals it. It takes three cells:

1. a small answer cell tagged ``solution``, e.g. ``side = (8 - 3) // 2 + 1`` between the
   solution markers (the student build turns it into ``side = ...``);
2. a check cell, ``check_strided_side(side)``, whose checker computes the expected value with
   the course's own functions and recognises the usual slips, each by computing it;
3. the reveal: the notebook's next code cell, which computes the answer in the open.

A prediction checker is an ordinary :func:`~course_utils.exercises.verdict.checker` that hands its
numbers to :func:`compare_prediction`::

    @checker
    def check_strided_side(side: int) -> Verdict:
        expected = conv_output_size(8, 3, stride=2)
        return compare_prediction(side, expected, what=_("the output side"), because=_("..."),
                                  slips=[((8 - 3) // 2, _("the + 1 is missing: ..."))])

``what``, ``because``, the slips' sentences and the hint go through ``_()`` where they are written
(the checker's module); the sentences built here from them do too, with named placeholders.

A prediction of a convolution's output side (notebook 01's stride that does not divide, notebook
03's AlexNet layer) goes through :func:`compare_side`, which computes the slips every such
prediction shares (a fraction of a window, one window too many, the + 1 forgotten, the stride
ignored) from the layer's ``ConvGeometry``; the checker writes their sentences for its own layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

from course_utils.exercises.verdict import Mistake, Verdict, right
from course_utils.i18n import gettext as _
from course_utils.lessons.conv import ConvGeometry

__all__ = ["Slip", "compare_prediction", "compare_side"]

Value = int | float | tuple[int | float, ...]
Slip = tuple[Value, str]
"""A wrong answer learners give, computed by the slip's own formula, and the sentence it earns."""


def _number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _same(answer: Any, value: Value, tolerance: float = 0.0) -> bool:
    if isinstance(value, tuple):
        return (isinstance(answer, (tuple, list)) and len(answer) == len(value)
                and all(_same(a, v, tolerance) for a, v in zip(answer, value, strict=True)))
    return _number(answer) and abs(answer - value) <= tolerance


def _well_formed(answer: Any, expected: Value, what: str, whole: bool = True) -> None:
    """Refuse an answer of the wrong kind, with a sentence saying which kind is wanted."""
    if isinstance(expected, tuple):
        if not isinstance(answer, (tuple, list)) or len(answer) != len(expected):
            raise Mistake(_("give {what} as {count} numbers in a tuple, e.g. {example}; got {answer}.").format(
                what=what, count=len(expected), example=tuple(range(1, len(expected) + 1)), answer=repr(answer)))
        values = list(answer)
    else:
        values = [answer]
    for value in values:
        if not _number(value):
            raise Mistake(_("answer with a number for {what}; got {type} {value}.").format(
                what=what, type=type(value).__name__, value=repr(value)))
        if whole and not isinstance(value, Integral) and not float(value).is_integer():
            raise Mistake(_("{value:g} is not a whole number, and {what} is counted in whole numbers: "
                            "think about what PyTorch does with the fraction.").format(value=value, what=what))


def compare_prediction(answer: Any, expected: Value, *, what: str, because: str,
                       slips: Sequence[Slip] = (), hint: str = "", tolerance: float = 0.0) -> Verdict:
    """Compare a prediction with ``expected``; name the slip it matches, if any.

    - ``what``: what was predicted ("the output side"), used in the messages;
    - ``because``: why the answer is right, said when it is (one clause);
    - ``slips``: the usual wrong answers, each computed by the slip's formula, with its
      sentence; a slip whose value happens to equal ``expected`` is skipped;
    - ``hint``: what to reconsider, for a wrong answer that matches no slip;
    - ``tolerance``: for a prediction that is not a whole number (a probability, a rate), how
      far from ``expected`` (and from each slip) an answer may lie and still count as it; say in
      the question how many decimals are wanted. 0, the default, wants exact whole numbers.

    Returns :func:`right`; raises :class:`Mistake` with one sentence otherwise.
    """
    for value, sentence in slips:
        if not _same(expected, value, tolerance) and _same(answer, value, tolerance):
            raise Mistake(sentence)
    _well_formed(answer, expected, what, whole=tolerance == 0)
    if _same(answer, expected, tolerance):
        return right(_("{what} is {value}: {because}").format(what=what, value=_show(expected), because=because))
    if hint:
        raise Mistake(_("{answer} is not {what}: {hint}").format(answer=_show(answer), what=what, hint=hint))
    raise Mistake(_("{answer} is not {what}.").format(answer=_show(answer), what=what))


def compare_side(answer: Any, geometry: ConvGeometry, *, because: str, fraction: str, one_more: str,
                 steps: str, stride_one: str, hint: str, others: Sequence[Slip] = ()) -> Verdict:
    """Compare a prediction of ``geometry.output_size``, "the output side", with the usual slips.

    Each slip's sentence is the checker's (so it can speak of its own layer); its value is computed
    here, in this order:

    - ``fraction``: the formula unrounded, ``(H1 − FH + 2P) / S + 1`` (a part of a window);
    - ``one_more``: one window more than fit whole;
    - ``others``: the checker's own slips (value, sentence), tried next;
    - ``steps``: ``(H1 − FH + 2P) // S``, the steps between windows (the + 1 forgotten);
    - ``stride_one``: ``H1 − FH + 2P + 1``, the side at stride 1 (the stride ignored).

    ``because`` and ``hint`` are as for :func:`compare_prediction`. Every sentence (translated
    already, with ``_()`` where it is written) may name these placeholders, filled in here:
    ``{size}`` (H1), ``{k}`` (FH), ``{stride}``, ``{exact}`` (the formula unrounded),
    ``{formula}`` (the notes' formula with the numbers in), ``{starts}`` (where the windows
    start), ``{number}``, ``{start}``, ``{end}`` (the window one too many: its number, its first and
    last column) and ``{last}`` (the input's last column).
    """
    span = geometry.padded_size - geometry.effective_kernel_size
    start = geometry.output_size * geometry.stride
    values = {"size": geometry.size, "k": geometry.kernel_size, "stride": geometry.stride,
              "exact": float(geometry.exact_output), "formula": geometry.formula(),
              "starts": geometry.window_starts(), "number": geometry.output_size + 1, "start": start,
              "end": start + geometry.effective_kernel_size - 1, "last": geometry.padded_size - 1}
    slips = [(float(geometry.exact_output), fraction), (geometry.output_size + 1, one_more), *others,
             (span // geometry.stride, steps), (span + 1, stride_one)]
    return compare_prediction(
        answer, geometry.output_size, what=_("the output side"), because=because.format(**values),
        slips=[(value, sentence.format(**values)) for value, sentence in slips], hint=hint.format(**values))


def _show(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_show(v) for v in value) + ")"
    return f"{value:g}" if isinstance(value, float) else str(value)
