"""Exercises that check themselves: one module of checkers per notebook, and what they share.

Each notebook ends with exercises. For a checked one the learner completes a function (or fills
in a value) in a cell tagged ``solution`` and runs the next cell, which calls a checker from here:

- ``verdict``: what every checker shares: :class:`NotDone`, :class:`Verdict`, the decorator
  :func:`checker` (it prints one line and never raises for a wrong answer, except while
  nbgrader autogrades, see ``verdict``).
- ``prediction``: predict, then run. In the middle of a notebook the learner answers a small
  question (an output shape, a parameter count) before the cell that reveals it; its checker
  lives with the notebook's others and compares with :func:`compare_prediction`.
- ``start`` (00), ``convolution`` (01), ``pooling`` (02), ``counting`` (03),
  ``receptive_fields`` (04), ``architectures`` (05), ``transfer`` (06),
  ``optimizers_losses`` (07), ``inspection`` (08): the checkers.

A checker computes what it expects from PyTorch or the course's own functions, never from a
typed number, and answers in one line: ``✓ right: ...``, ``✗ ...`` (one sentence: what is wrong
and why), or ``… not done yet`` while the learner's cell still holds the student build's stub
(``raise NotDone()``, or ``answer = ...``).
"""

from course_utils.exercises.verdict import NotDone, Verdict, checker

__all__ = ["NotDone", "Verdict", "checker"]
