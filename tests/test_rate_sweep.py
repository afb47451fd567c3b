"""The widening learning-rate sweep: it adds rates beyond the edge until the best one is inside."""

from __future__ import annotations

import math

import pytest

from course_utils.training.rate_sweep import sweep_rates


def _peaked_at(best_rate):
    """A score that is highest at ``best_rate`` and falls with the distance on a log axis."""
    calls = []

    def run(rate):
        calls.append(rate)
        return {"val": -abs(math.log10(rate) - math.log10(best_rate))}

    return run, calls


def test_a_best_rate_inside_the_grid_adds_nothing():
    run, calls = _peaked_at(1e-2)
    sweep = sweep_rates(run, (1e-1, 1e-3, 1e-2), score=lambda r: r["val"])
    assert sweep.best == 1e-2 and sweep.inside and sweep.added == ()
    assert sweep.rates == sweep.grid == (1e-3, 1e-2, 1e-1) and calls == [1e-3, 1e-2, 1e-1]
    assert list(sweep.results) == list(sweep.scores) == [1e-3, 1e-2, 1e-1]


@pytest.mark.parametrize("best_rate, grid, added_in_order", [
    (10.0, (1e-3, 1e-2, 1e-1, 1.0), (10.0, 100.0)),  # 10 is best but at the edge: 100 shows it inside
    (1e-5, (1e-3, 1e-2, 1e-1), (1e-4, 1e-5, 1e-6)),  # two steps down to the best, one more beyond it
])
def test_a_best_rate_at_the_edge_widens_the_grid_until_it_is_inside(best_rate, grid, added_in_order):
    run, calls = _peaked_at(best_rate)
    sweep = sweep_rates(run, grid, score=lambda r: r["val"])
    assert sweep.best == best_rate and sweep.inside
    assert calls == [*grid, *added_in_order]  # one rate beyond the edge at a time
    assert sweep.added == tuple(sorted(added_in_order)) and sweep.grid == grid
    assert "inside" in sweep.describe() and "added" in sweep.describe()


def test_the_widening_stops_after_max_extra_and_says_so():
    run, calls = _peaked_at(1e6)
    sweep = sweep_rates(run, (1e-2, 1e-1), score=lambda r: r["val"], max_extra=2)
    assert sweep.rates == (1e-2, 1e-1, 1.0, 10.0) and sweep.best == 10.0 and not sweep.inside
    assert "AT THE EDGE" in sweep.describe()
    none = sweep_rates(_peaked_at(1e6)[0], (1e-2, 1e-1), score=lambda r: r["val"], max_extra=0)
    assert none.added == () and not none.inside


def test_ties_go_to_the_middle_so_a_flat_edge_stops_the_widening():
    scores = {1e-3: 0.5, 1e-2: 0.9, 1e-1: 0.9}  # the last two tie: the best is not shown to lie beyond
    sweep = sweep_rates(lambda rate: scores[rate], (1e-3, 1e-2, 1e-1), score=float)
    assert sweep.best == 1e-2 and sweep.inside and sweep.added == ()


def test_bad_grids_say_what_to_do():
    with pytest.raises(ValueError, match="at least two different rates"):
        sweep_rates(lambda r: r, (1e-2,), score=float)
    with pytest.raises(ValueError, match="at least two different rates"):
        sweep_rates(lambda r: r, (1e-2, 1e-2), score=float)
    with pytest.raises(ValueError, match="must be positive"):
        sweep_rates(lambda r: r, (0.0, 1e-2), score=float)
    with pytest.raises(ValueError, match="step must be larger than 1"):
        sweep_rates(lambda r: r, (1e-3, 1e-2), score=float, step=1.0)
    with pytest.raises(TypeError, match="max_extra must be an int"):
        sweep_rates(lambda r: r, (1e-3, 1e-2), score=float, max_extra=1.5)
