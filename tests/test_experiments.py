"""The multi-seed runner and the noise comparison."""

from __future__ import annotations

import pytest
import torch

from course_utils.analysis.seeds import SeedRuns, compare, rank, run_seeds


def _noisy_run(seed: int) -> dict:
    # uses the global generator, which run_seeds seeds
    return {"value": float(torch.rand(1)), "double": 2 * seed}


def test_runner_is_deterministic_per_seed(context):
    first = run_seeds(_noisy_run, seeds=(3, 1, 2), progress=False, context=context)
    torch.rand(100)  # disturb the global generator in between
    second = run_seeds(_noisy_run, seeds=(3, 1, 2), progress=False, context=context)
    assert first.values() == second.values()
    assert len(set(first.values())) == 3  # different seeds, different draws
    assert first.values("double") == [6.0, 2.0, 4.0]
    alone = run_seeds(_noisy_run, seeds=(1,), progress=False, context=context)
    assert alone.values() == [first.values()[1]]  # independent of what ran before


def test_mean_and_spread(context):
    runs = run_seeds(lambda seed: float(seed), seeds=(1, 2, 3, 4), progress=False, context=context)
    assert runs.mean() == pytest.approx(2.5)
    assert runs.std() == pytest.approx(torch.tensor([1.0, 2, 3, 4]).std().item())
    assert runs.describe(digits=2) == "2.50 ± 1.29 (4 seeds)"


def _runs(values):
    return SeedRuns(seeds=tuple(range(len(values))), results=tuple({"value": v} for v in values))


def test_compare_separates_signal_from_noise():
    clear = compare(_runs([0.90, 0.91, 0.92]), _runs([0.80, 0.81, 0.79]))
    assert clear.differs and clear.difference == pytest.approx(0.11)
    noisy = compare(_runs([0.90, 0.80, 0.85]), _runs([0.86, 0.82, 0.84]))
    assert not noisy.differs
    assert "within the noise" in str(noisy)
    floor = compare(_runs([0.5, 0.5, 0.5]), _runs([0.501, 0.501, 0.501]), min_noise=0.01)
    assert not floor.differs and floor.half_width == 0.01


def test_rank_names_a_winner_only_when_the_others_are_shown_worse():
    clear = rank({"a": _runs([0.80, 0.81, 0.79]), "b": _runs([0.90, 0.91, 0.92]), "c": _runs([0.70, 0.71, 0.69])})
    assert clear.best == "b" and clear.worse == ("a", "c") and clear.tied == () and not clear.all_tied
    assert list(clear.comparisons) == ["a", "c"]  # the others, in the order given
    assert clear.comparisons["a"] == compare(_runs([0.80, 0.81, 0.79]), _runs([0.90, 0.91, 0.92]))
    noisy = rank({"a": _runs([0.90, 0.80, 0.85]), "b": _runs([0.86, 0.82, 0.84])})
    assert noisy.best == "a" and noisy.tied == ("b",) and noisy.all_tied  # the best mean, but no winner
    mixed = rank({"a": _runs([0.90, 0.80, 0.85]), "b": _runs([0.86, 0.82, 0.84]), "c": _runs([0.5, 0.51, 0.49])})
    assert mixed.best == "a" and mixed.tied == ("b",) and mixed.worse == ("c",) and not mixed.all_tied
    floored = rank({"a": _runs([0.5, 0.5, 0.5]), "b": _runs([0.52, 0.52, 0.52])}, min_noise=0.05)
    assert floored.all_tied  # the floor under the noise applies, as in compare
    with pytest.raises(ValueError, match="at least two settings"):
        rank({"a": _runs([0.5, 0.6])})


def test_bad_input(context):
    with pytest.raises(ValueError, match="at least one seed"):
        run_seeds(lambda s: 0.0, seeds=(), context=context)
    with pytest.raises(TypeError, match="number or a mapping"):
        run_seeds(lambda s: "x", seeds=(0,), progress=False, context=context)
    with pytest.raises(ValueError, match="two seeds"):
        compare(_runs([1.0]), _runs([1.0, 2.0]))


def test_compare_paired_on_two_models_right_or_wrong_on_the_same_images():
    """Notebook 06's use: one difference per image (right minus right), only disagreements add noise."""
    from course_utils.analysis.seeds import compare_paired

    def paired(a, b):
        return compare_paired([x - y for x, y in zip(a, b, strict=True)])

    same = [True] * 80 + [False] * 20
    assert paired(same, same).difference == 0 and not paired(same, same).differs
    better = [True] * 95 + [False] * 5  # right on 15 more images, never worse
    clear = paired(better, same)
    assert clear.difference == pytest.approx(0.15) and clear.differs
    swapped = [True] * 70 + [False] * 10 + [True] * 12 + [False] * 8  # 10 lost, 12 won: +2 images of 100
    noisy = paired(swapped, same)
    assert noisy.difference == pytest.approx(0.02) and not noisy.differs and "within the noise" in str(noisy)
