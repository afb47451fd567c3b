"""Experiments with several seeds, and the course's one rule for "is that difference real?".

One training run is one draw: another seed (随机种子) gives other initial weights and another
order of batches, and the accuracy moves by a point or more. Comparing two settings on one
seed each compares two draws. :func:`run_seeds` repeats a run for several seeds (seeding
everything before each), and :func:`compare` says whether two settings differ by more than
the seed-to-seed noise: Welch's t interval (95 %) of the difference of the means. Every verdict
of the course ("a real difference" or "within the noise"), in every notebook and in the freezing
experiment, is this function's. With three
seeds that interval is wide (the t factor is about 2.8-4.3 instead of 2); a difference it
calls "within the noise" may still be real, only not shown by this experiment.

:func:`rank` applies the rule to several settings at once: the best mean against each of the
others, so that a table of results can say "tied" where the experiment tells nothing apart.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from course_utils.context import RunContext
from course_utils.env import seed_everything

__all__ = ["NOISE_RULE", "Comparison", "Ranking", "SeedRuns", "compare", "compare_paired", "rank", "run_seeds"]

NOISE_RULE = ("a difference is real when Welch's 95 % t interval of the difference of the means over seeds "
              "excludes 0, and for an accuracy is more than one test image; otherwise it is within the noise: "
              "not shown, which is not the same as equal")
"""The course's one rule for "is that difference real?", in one line: :func:`compare` applies it."""


@dataclass(frozen=True)
class SeedRuns:
    """The results of one setting, one entry per seed.

    Each result is a mapping of metric name to value (a run that returned a plain number
    has the metric ``"value"``); other entries (a History, a model) are kept as they are.
    """

    seeds: tuple[int, ...]
    results: tuple[Mapping[str, Any], ...]

    def values(self, metric: str = "value") -> list[float]:
        """The metric's value for each seed, in seed order."""
        try:
            return [float(result[metric]) for result in self.results]
        except KeyError:
            raise KeyError(f"No metric {metric!r}; the runs returned {sorted(self.results[0])}.") from None

    def mean(self, metric: str = "value") -> float:
        """The mean over seeds."""
        values = self.values(metric)
        return sum(values) / len(values)

    def std(self, metric: str = "value") -> float:
        """The sample standard deviation over seeds (0 with a single seed)."""
        values = self.values(metric)
        if len(values) < 2:
            return 0.0
        mean = sum(values) / len(values)
        return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))

    def describe(self, metric: str = "value", digits: int = 3) -> str:
        """``"0.912 ± 0.004 (3 seeds)"``: mean ± sample standard deviation."""
        return f"{self.mean(metric):.{digits}f} ± {self.std(metric):.{digits}f} ({len(self.seeds)} seeds)"


def run_seeds(
    run: Callable[[int], float | Mapping[str, Any]],
    seeds: Sequence[int] = (0, 1, 2),
    *,
    context: RunContext,
    progress: bool = True,
    desc: str | None = None,
) -> SeedRuns:
    """Call ``run(seed)`` for every seed, after ``seed_everything(seed)``; collect the results.

    ``context`` shows the progress over seeds (``progress=False``: none).

    ``run`` returns a number (the metric ``"value"``) or a mapping of metrics. Because
    everything is seeded before each call, the same seed gives the same result again (on the
    same machine and CPU), whatever ran before.
    """
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise ValueError("Give at least one seed (three or more to measure the noise).")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"The seeds must differ, got {seeds}.")
    results = []
    bar = context.progress_bar(total=len(seeds), desc=desc or "seeds", leave=False, disable=not progress)
    for seed in seeds:
        seed_everything(seed)
        result = run(seed)
        if isinstance(result, Mapping):
            results.append(dict(result))
        elif isinstance(result, (int, float)):
            results.append({"value": float(result)})
        else:
            raise TypeError(f"run(seed) must return a number or a mapping of metrics, got {type(result).__name__}.")
        bar.update(1)
    bar.close()
    return SeedRuns(seeds=seeds, results=tuple(results))


@dataclass(frozen=True)
class Comparison:
    """``a`` minus ``b`` on one metric, with the 95 % half-width of the seed noise."""

    difference: float
    half_width: float
    """Welch's t factor × the standard error of the difference of the means (at least ``min_noise``)."""

    @property
    def differs(self) -> bool:
        """True when the difference is larger than the noise (the 95 % interval excludes 0)."""
        return abs(self.difference) > self.half_width

    def __str__(self) -> str:
        verdict = "a real difference" if self.differs else "within the noise"
        return f"{self.difference:+.3f} ± {self.half_width:.3f} (95 %): {verdict}"


def compare(a: SeedRuns, b: SeedRuns, metric: str = "value", *, min_noise: float = 0.0) -> Comparison:
    """Does ``a`` differ from ``b`` on ``metric`` by more than the seed-to-seed noise?

    The noise is Welch's 95 % t interval of the difference of the two means (each setting's
    own spread, no equal-variance assumption). ``min_noise`` puts a floor under the half-width:
    for accuracies on ``n`` images, a difference smaller than one or two images is never
    evidence, even if three seeds happened to agree exactly.
    """
    from scipy import stats

    if len(a.seeds) < 2 or len(b.seeds) < 2:
        raise ValueError("Each setting needs at least two seeds to estimate the noise (three or more is better).")
    va, vb = a.std(metric) ** 2 / len(a.seeds), b.std(metric) ** 2 / len(b.seeds)
    se = math.sqrt(va + vb)
    if se > 0:
        df = (va + vb) ** 2 / (va ** 2 / (len(a.seeds) - 1) + vb ** 2 / (len(b.seeds) - 1))
        half = float(stats.t.ppf(0.975, df)) * se
    else:
        half = 0.0
    return Comparison(difference=a.mean(metric) - b.mean(metric), half_width=max(half, min_noise))


@dataclass(frozen=True)
class Ranking:
    """Several settings against the one with the best mean; every verdict is :func:`compare`'s."""

    best: str
    """The setting with the highest mean (not shown better unless the others differ from it)."""
    comparisons: Mapping[str, Comparison]
    """Every other setting minus the best, in the order the settings were given."""

    @property
    def tied(self) -> tuple[str, ...]:
        """The settings within the noise of the best: this experiment cannot tell them from it."""
        return tuple(name for name, c in self.comparisons.items() if not c.differs)

    @property
    def worse(self) -> tuple[str, ...]:
        """The settings shown worse than the best (a real difference)."""
        return tuple(name for name, c in self.comparisons.items() if c.differs)

    @property
    def all_tied(self) -> bool:
        """True when no setting is shown worse than the best: there is no winner to name."""
        return not self.worse


def rank(runs: Mapping[str, SeedRuns], metric: str = "value", *, min_noise: float = 0.0) -> Ranking:
    """The setting of ``runs`` with the highest mean of ``metric``, compared with each other one.

    Higher is better (rank an error by a metric that is its negative, or read ``worse`` as
    better). ``min_noise`` is :func:`compare`'s floor under the noise.
    """
    if len(runs) < 2:
        raise ValueError(f"Give at least two settings to rank, got {list(runs)}.")
    best = max(runs, key=lambda name: runs[name].mean(metric))
    return Ranking(best=best, comparisons={name: compare(runs[name], runs[best], metric, min_noise=min_noise)
                                           for name in runs if name != best})


def compare_paired(differences: Sequence[float], *, min_noise: float = 0.0) -> Comparison:
    """The same rule for paired measurements: is the mean of ``differences`` (one per image, or per
    seed run on the same data) further from 0 than its 95 % t interval?

    Use it when both settings were measured on the same items (the same photo occluded two ways):
    pairing removes the item-to-item spread from the noise, as :func:`compare` cannot.
    """
    from scipy import stats

    values = [float(v) for v in differences]
    if len(values) < 2:
        raise ValueError("Need at least two paired differences to estimate the noise.")
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    half = float(stats.t.ppf(0.975, len(values) - 1)) * sd / math.sqrt(len(values))
    return Comparison(difference=mean, half_width=max(half, min_noise))
