"""What every checker shares: the "not done yet" exception, the verdict, and the decorator.

A checker is a function decorated with :func:`checker`. It receives the learner's answer (a
function, a module class or a value), compares it with what PyTorch or the course computes, and

- returns :func:`right` with a short sentence saying what was checked, or
- raises :class:`Mistake` (or returns :func:`wrong`) with ONE sentence saying what is wrong and
  why: "your sizes are 1 too small everywhere: the formula ends with + 1".

The decorator prints the verdict as one line and returns it. It never lets the learner's
mistakes escape as a traceback: an exception raised by the learner's code becomes a ``✗`` line
that names it, and an unsolved exercise (``...`` as the answer, or a stub that raises
:class:`NotDone`) becomes ``… not done yet``, so that a student notebook runs top to bottom.
A bug in the checker itself (any other exception from its own code) still raises, as it should.
A check draws its random numbers without disturbing the notebook's: the cells after it compute
the same whether or not it ran.

For nbgrader, a check cell is an autograded test cell, which nbgrader scores by whether it
raises. While nbgrader autogrades (``COURSE_GRADING=1``, set by the course's nbgrader
configuration; see :func:`course_utils.env.graded_run`) a verdict that is not right is printed
as always and then raised as :class:`NotRight`. A learner never sees that exception.

Every sentence a learner reads goes through ``_()`` (:mod:`course_utils.i18n`), the verdict's own
words too (``✓ right:``, "not done yet"), so that a Chinese notebook's checks answer in Chinese.
A message is made in the language spoken when the check runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, ParamSpec

import torch

from course_utils.env import graded_run
from course_utils.i18n import gettext as _

__all__ = ["Mistake", "NotDone", "NotRight", "Verdict", "attempt", "checker", "right", "wrong"]

P = ParamSpec("P")


def _not_done_message() -> str:
    return _("not done yet: write your answer in the cell above (in place of `raise NotDone()` or `...`), "
             "run it, then run this check again.")


class NotDone(Exception):
    """Raised by the student copy's stubs: the exercise has not been answered yet.

    A checker that meets it reports "not done yet" instead of failing.
    """

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or _not_done_message())


class Mistake(Exception):
    """Raised inside a checker to reject an answer with one sentence (becomes a ``✗`` verdict)."""


class NotRight(AssertionError):
    """Raised by a check only while nbgrader autogrades: the answer is wrong or not done (0 points)."""


@dataclass(frozen=True)
class Verdict:
    """The outcome of a check: ``status`` is "right", "wrong" or "not done"; truthy when right."""

    status: Literal["right", "wrong", "not done"]
    message: str

    def __bool__(self) -> bool:
        return self.status == "right"

    def __str__(self) -> str:
        if self.status == "right":
            return _("✓ right: {message}").format(message=self.message)
        return f"{'✗' if self.status == 'wrong' else '…'} {self.message}"

    def _ipython_display_(self) -> None:
        """Show nothing as a cell's result: the checker has already printed the verdict."""


def right(message: str) -> Verdict:
    """A verdict for a correct answer; ``message`` says what was checked."""
    return Verdict("right", message)


def wrong(message: str) -> Verdict:
    """A verdict for a wrong answer; ``message`` is one sentence: what is wrong, and why."""
    return Verdict("wrong", message)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    line = text[0] if text else ""
    return line if len(line) <= 160 else line[:157] + "..."


def attempt(function: Callable[..., Any], *args: Any, call: str | None = None, **kwargs: Any) -> Any:
    """Call the learner's ``function``; turn an exception it raises into a :class:`Mistake`.

    :class:`NotDone` passes through (the decorator reports "not done yet"). ``call`` is how the
    call is shown in the message, e.g. ``"output_size(8, 3, 0, 2)"``.
    """
    if not callable(function):
        raise Mistake(_("expected a function, got {type}: define it with `def` in the cell above.").format(
            type=type(function).__name__))
    try:
        return function(*args, **kwargs)
    except NotDone:
        raise
    except Exception as error:  # the learner's code failed: say how, in one line
        shown = call or f"{getattr(function, '__name__', _('your function'))}(...)"
        raise Mistake(_("{call} raised {error}: {line}").format(
            call=shown, error=type(error).__name__, line=_first_line(error))) from error


def checker(check: Callable[P, Verdict]) -> Callable[P, Verdict]:
    """Make ``check`` print its verdict, and report "not done yet" for an unanswered exercise.

    The first argument of a checker is the learner's answer; ``...`` means "not answered".
    Under nbgrader's autograding a verdict that is not right is raised after it is printed.
    """

    @functools.wraps(check)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Verdict:
        if args and args[0] is Ellipsis:
            verdict = Verdict("not done", _not_done_message())
        else:
            try:
                with torch.random.fork_rng(devices=[]):  # leave the notebook's random numbers alone
                    verdict = check(*args, **kwargs)
            except NotDone:
                verdict = Verdict("not done", _not_done_message())
            except Mistake as mistake:
                verdict = wrong(str(mistake))
        print(verdict)
        if not verdict and graded_run():
            raise NotRight(f"{check.__name__}: {verdict}")
        return verdict

    return wrapper
