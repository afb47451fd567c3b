"""Progress in a log file: a plain line every tenth of a long step, instead of a redrawn bar.

A progress bar redraws one line with carriage returns; in a file (``python -m course_utils
train ... > run.log``, a batch job) that is either nothing at all until the step ends or one
unreadable line. :class:`LineProgress` takes the same arguments and methods as the tqdm bars the
course uses, and prints ``features (train): 30% (61/204)`` each time another tenth of the step is
done, then the step's last line with its time. The run context chooses it
(:meth:`~course_utils.context.RunContext.progress_bar`, progress ``"log"``).
"""

from __future__ import annotations

import sys
import time
from typing import Any

__all__ = ["LineProgress"]


class LineProgress:
    """A stand-in for a tqdm bar that prints a plain line every ``every`` of the total."""

    def __init__(self, total: float | None = None, desc: str | None = None, initial: float = 0,
                 disable: bool = False, every: float = 0.1, file: Any = None, **_: Any) -> None:
        self.total, self.desc, self.n, self.disable = total, desc or "", initial, disable
        self.every, self.file = every, file
        self.postfix = ""
        self._started = time.perf_counter()
        self._next = self._first_mark()

    def _first_mark(self) -> float:
        return (int(self.n / self.total / self.every) + 1) * self.every if self.total else 1.0

    def _print(self, text: str) -> None:
        print(text, file=self.file or sys.stdout, flush=True)

    def update(self, n: float = 1) -> None:
        """``n`` more done; print a line when another tenth of the total is reached."""
        self.n += n
        if self.disable or not self.total:
            return
        fraction = self.n / self.total
        if fraction + 1e-9 >= self._next:
            seconds = time.perf_counter() - self._started
            postfix = f", {self.postfix}" if self.postfix else ""
            self._print(f"{self.desc}: {fraction:.0%} ({self.n:g}/{self.total:g}) after {seconds:.0f} s{postfix}")
            while self._next <= fraction + 1e-9:
                self._next += self.every

    def reset(self, total: float | None = None) -> None:
        """Start again from 0 (a new epoch's batches)."""
        self.n, self.postfix = 0, ""
        if total is not None:
            self.total = total
        self._started = time.perf_counter()
        self._next = self._first_mark()

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or ""

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = True, **kwargs: Any) -> None:
        values = {**dict(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k} {v}" for k, v in values.items())

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s

    def write(self, text: str) -> None:
        """A line of its own (fit's one line per epoch), printed even when disabled, as ``tqdm.write``."""
        self._print(text)

    def close(self) -> None:
        pass

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self):  # pragma: no cover - the course passes totals, never iterables
        raise TypeError("LineProgress counts with update(); pass total= instead of an iterable.")
