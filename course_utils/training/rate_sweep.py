"""A learning-rate sweep on a log grid, widened until its best rate lies inside it.

Comparing optimizers each at its own best rate (notebook 07) needs that rate to be a best: a
rate at the edge of its grid says only that the grid stopped there, and the optimizer may do
better beyond it. :func:`sweep_rates` runs every rate of a grid and, while the best one is the
smallest or the largest, adds the next rate beyond it (``step`` times further: a factor 10 by
default) and runs that too. It stops when the best rate has a tried rate on each side, or after
``max_extra`` added rates; then :attr:`RateSweep.inside` is False and the caller decides (the
notebook asserts it in its full run).

Ties in the score go to the rate nearest the middle of the grid, so that a flat edge (a tie
between the last two rates) does not send the sweep further out for nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from course_utils.arguments import require_int

__all__ = ["RateSweep", "sweep_rates"]

T = TypeVar("T")


@dataclass(frozen=True)
class RateSweep(Generic[T]):
    """What :func:`sweep_rates` ran: one result and one score per rate."""

    results: Mapping[float, T]
    """What ``run(rate)`` returned, for every rate tried (the grid and the rates added)."""
    scores: Mapping[float, float]
    """``score(result)`` for every rate tried: higher is better."""
    best: float
    """The rate with the highest score."""
    grid: tuple[float, ...]
    """The rates asked for, ascending."""

    @property
    def rates(self) -> tuple[float, ...]:
        """Every rate tried, ascending."""
        return tuple(sorted(self.results))

    @property
    def added(self) -> tuple[float, ...]:
        """The rates tried beyond the grid asked for, ascending."""
        return tuple(rate for rate in self.rates if rate not in self.grid)

    @property
    def inside(self) -> bool:
        """True when a smaller and a larger rate than the best were tried."""
        return self.rates[0] < self.best < self.rates[-1]

    def describe(self) -> str:
        """``"1e-04 … 10 (added 10): best 1, inside"``: the range tried and where the best lies."""
        added = f" (added {', '.join(f'{r:g}' for r in self.added)})" if self.added else ""
        where = "inside" if self.inside else "AT THE EDGE"
        return f"{self.rates[0]:g} … {self.rates[-1]:g}{added}: best {self.best:g}, {where}"


def _best(scores: Mapping[float, float]) -> float:
    """The rate of the highest score; among equal scores, the one nearest the middle of the rates."""
    rates = sorted(scores)
    middle = (len(rates) - 1) / 2
    top = max(scores.values())
    return min((rate for rate in rates if scores[rate] == top), key=lambda rate: abs(rates.index(rate) - middle))


def _tidy(rate: float) -> float:
    """``0.1 * 10`` as ``1.0``: six significant digits, so that rates print and compare cleanly."""
    return float(f"{rate:.6g}")


def sweep_rates(
    run: Callable[[float], T],
    rates: Sequence[float],
    *,
    score: Callable[[T], float],
    step: float = 10.0,
    max_extra: int = 3,
) -> RateSweep[T]:
    """Call ``run(rate)`` for each rate of ``rates``; widen the grid while the best rate is at its edge.

    - ``score(result)``: how good a rate's result is, higher is better (the mean validation
      accuracy over seeds, for instance: choose on validation data, report on test data);
    - ``step``: the factor between the edge and the rate added beyond it;
    - ``max_extra``: at most this many rates are added (each costs a run), 0 for none.

    Returns a :class:`RateSweep`; its ``inside`` says whether the best rate has a tried
    neighbour on each side.
    """
    grid = tuple(sorted(_tidy(float(rate)) for rate in rates))
    if len(grid) < 2 or len(set(grid)) != len(grid):
        raise ValueError(f"Give at least two different rates (a log grid such as (1e-3, 1e-2, 1e-1)), got {rates!r}.")
    if grid[0] <= 0:
        raise ValueError(f"Learning rates must be positive, got {grid[0]:g}.")
    if not step > 1:
        raise ValueError(f"step must be larger than 1 (the factor to the next rate beyond the edge), got {step}.")
    require_int("max_extra", max_extra, minimum=0)
    results = {rate: run(rate) for rate in grid}
    scores = {rate: float(score(result)) for rate, result in results.items()}
    for _ in range(max_extra):
        tried = sorted(results)
        best = _best(scores)
        if tried[0] < best < tried[-1]:
            break
        new = _tidy(best / step if best == tried[0] else best * step)
        results[new] = run(new)
        scores[new] = float(score(results[new]))
    ordered = sorted(results)
    return RateSweep(results={rate: results[rate] for rate in ordered}, scores={rate: scores[rate] for rate in ordered},
                     best=_best(scores), grid=grid)
