"""The table, the choice and the verdicts of ``python -m benchmarks.stage2_recipes``, from the saved runs.

Every verdict is printed from the numbers: a difference is "real" when the course's noise rule
(:func:`~course_utils.analysis.seeds.compare`, Welch's 95 % interval over seeds) excludes 0,
"within the noise" otherwise. The recipe is chosen on validation accuracy only (:func:`choose`);
the test photos are read after that, for the chosen recipe and stage 1 alone.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from course_utils.analysis.seeds import SeedRuns, compare

__all__ = ["ATTRIBUTIONS", "TIME_TIE", "choose", "report", "seed_runs"]

TIME_TIE = 0.25
"""Two recipes whose training time per batch differs by less than this fraction take the same time.

The timing's resolution on the shared 2-core machine: five recipes that train the same layers (the
same arithmetic) measured 0.61-0.72 s per batch side by side (2026-12-04, load average 3-4)."""

ATTRIBUTIONS = (  # (a, b, what a minus b measures), printed when both were run
    ("last stage", "notes", "unfreezing only the last stage instead of every layer"),
    ("discriminative", "notes", "the head at 10x the backbone's rate"),
    ("warm-up", "notes", "a warm-up with its cosine decay, instead of a constant rate"),
    ("cosine, no warm-up", "notes", "the cosine decay alone"),
    ("warm-up", "cosine, no warm-up", "the warm-up itself (both decay alike)"),
    ("disc. + warm-up", "warm-up", "discriminative rates, on top of the warm-up"),
    ("last stage + disc. + warm-up", "disc. + warm-up", "the last stage only, with discriminative rates and warm-up"),
)


def seed_runs(results: Sequence[Mapping[str, Any]], metric: str = "best_val") -> SeedRuns:
    """The runs of one setting as :class:`SeedRuns` with the metric ``"value"``."""
    return SeedRuns(seeds=tuple(int(r["seed"]) for r in results),
                    results=tuple({"value": float(r[metric])} for r in results))


def _pct(runs: SeedRuns) -> str:
    return f"{100 * runs.mean():.1f} ± {100 * runs.std():.1f} %"


def _points(a: SeedRuns, b: SeedRuns) -> str:
    c = compare(a, b)
    verdict = "real" if c.differs else "within the noise"
    return f"{100 * c.difference:+.1f} ± {100 * c.half_width:.1f} ({verdict})"


def choose(recipes: Sequence[Any], runs: Mapping[str, Sequence[Mapping[str, Any]]], stage1: SeedRuns,
           per_batch: Mapping[str, float]) -> tuple[Any, list[str]]:
    """The chosen recipe, by validation accuracy, and the reasons, one line each.

    1. the recipe with the best mean validation accuracy is the reference;
    2. every recipe within the noise of it (``compare``) whose mean passes stage 1's is a candidate;
    3. of the candidates, the fastest per training batch (side by side) is chosen; times within
       :data:`TIME_TIE` of each other count as equal, and the better mean validation accuracy
       decides between them.
    No test photo is involved.
    """
    by_name = {r.name: r for r in recipes}
    val = {name: seed_runs(results) for name, results in runs.items()}
    ranked = sorted(val, key=lambda name: val[name].mean(), reverse=True)
    best = ranked[0]
    tied = [name for name in ranked if name == best or not compare(val[name], val[best]).differs]
    passing = [name for name in tied if val[name].mean() > stage1.mean()]
    reasons = [f"best mean validation accuracy: {best} ({_pct(val[best])})",
               "within the noise of it: " + (", ".join(n for n in tied if n != best) or "none")]
    if not passing:
        reasons.append(f"no recipe tied with the best passes stage 1 ({_pct(stage1)}) on the mean: {best} is kept")
        return by_name[best], reasons
    fastest = min(per_batch[name] for name in passing)
    quick = [name for name in passing if per_batch[name] <= fastest * (1 + TIME_TIE)]
    chosen = max(quick, key=lambda name: val[name].mean())
    reasons.append(f"of those that pass stage 1 on the mean ({', '.join(passing)}), the fastest per batch"
                   f"{' (ties broken by validation accuracy)' if len(quick) > 1 else ''}: **{chosen}**, "
                   f"{per_batch[chosen] / per_batch.get('notes', per_batch[chosen]):.2f}x the notes' time per batch")
    return by_name[chosen], reasons


def report(recipes: Sequence[Any], runs: Mapping[str, Sequence[Mapping[str, Any]]],
           stage1_results: Sequence[Mapping[str, Any]], timing: Mapping[str, Any], *, folder: str, machine: str,
           image_size: int = 160, batch_size: int = 32, patience: int = 8, valid_photos: int = 818,
           long_runs: tuple[Any, Sequence[Mapping[str, Any]]] | None = None,
           tests: Mapping[str, Sequence[float]] | None = None) -> tuple[str, Any]:
    """The Markdown section (setup, table, verdicts, test figure) and the chosen recipe."""
    stage1 = seed_runs(stage1_results)
    per_batch = timing["seconds_per_batch"]
    notes_batch = per_batch.get("notes")
    seeds = [int(r["seed"]) for r in stage1_results]
    epochs = recipes[0].epochs
    loads = [x for results in runs.values() for r in results for x in r["load_average"]]
    lines = [
        f"### Stage 2 recipes, measured ({machine})",
        "",
        f"`python -m benchmarks.stage2_recipes` on `{folder}`: EfficientNet-Lite0 at {image_size} px (resize the "
        f"shorter side to {image_size}, centre crop; stage 2 on the course's augmented photos), batch {batch_size}, seeds "
        f"{', '.join(map(str, seeds))}. Stage 1 as notebook 06 runs it: the head on the frozen backbone's cached "
        f"features, Adam 3e-3 at a constant rate until {patience} epochs bring no better validation accuracy, "
        f"best epoch kept. Every stage-2 recipe then starts from that seed's stage-1 checkpoint (weights and the head's Adam "
        f"state) and trains {epochs} epoch(s) on the same photos in the same order; BatchNorm stays frozen "
        f"everywhere. Best validation accuracy over the epochs ({valid_photos} photos), mean ± std over seeds; differences "
        "with the course's noise rule (Welch 95 %). Load average during the runs "
        f"{min(loads):.1f}-{max(loads):.1f} (2 cores, other sessions running): wall times are inflated, the "
        "side-by-side ratio is not.",
        "",
        "| recipe | what trains; rates; schedule | trainable | best val | stage 2 - stage 1 (points, 95 %) "
        "| s / epoch | s in all | train time per batch vs notes (side by side) |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: |",
        f"| stage 1 | the head on cached features, Adam 3e-3, patience {patience} | {stage1_results[0]['trainable']:,} | {_pct(stage1)} | | | "
        f"{statistics.fmean(r['seconds'] for r in stage1_results):.0f} (+ features) | |",
    ]
    val = {name: seed_runs(results) for name, results in runs.items()}
    for recipe in recipes:
        results = runs[recipe.name]
        per_epoch = statistics.fmean(s for r in results for s in r["epoch_seconds"])
        total = statistics.fmean(r["seconds"] for r in results)
        ratio = f"{per_batch[recipe.name] / notes_batch:.2f}x" if notes_batch else ""
        lines.append(f"| {recipe.name} | {recipe.describe()} | {results[0]['trainable']:,} | {_pct(val[recipe.name])} "
                     f"| {_points(val[recipe.name], stage1)} | {per_epoch:.0f} | {total:.0f} | {ratio} |")
    median = timing.get("median_seconds_per_batch", per_batch)
    lines += ["", f"Side by side ({timing['date']}: the same {timing['batches']} augmented batches through every "
              f"recipe, one batch at a time, {timing['rounds']} rounds, the recipes' order rotated; load average "
              f"{timing['load_average'][0]:.1f} -> {timing['load_average'][1]:.1f}, {timing['threads']} threads), "
              f"seconds per training batch of {batch_size}, fastest (median): "
              + ", ".join(f"{name} {seconds:.2f} ({median[name]:.2f})" for name, seconds in per_batch.items())
              + ". The ratios use the fastest step: other processes only ever slow a step down. (Recipes timed "
              "here but absent from the table were not trained.)", "",
              "What each choice bought (validation, points, 95 %):", ""]
    for a, b, what in ATTRIBUTIONS:
        if a in val and b in val:
            lines.append(f"- {what}: {a} - {b} = {_points(val[a], val[b])}")
    lines += ["", "Every run: best validation accuracy (epoch-by-epoch validation accuracy), seconds, per seed:", ""]
    lines.append("- stage 1: " + "; ".join(f"seed {r['seed']} {100 * r['best_val']:.1f} % (epoch {r['best_epoch']} "
                                         f"of {r['epochs']})" for r in stage1_results))
    for recipe in recipes:
        lines.append(f"- {recipe.name}: " + "; ".join(
            f"seed {r['seed']} {100 * r['best_val']:.1f} % ({', '.join(f'{100 * v:.1f}' for v in r['val_acc'])}), "
            f"{r['seconds']:.0f} s" for r in runs[recipe.name]))
    above = [r.name for r in recipes if compare(val[r.name], stage1).difference > 0]
    beyond = [r.name for r in recipes if compare(val[r.name], stage1).differs
              and compare(val[r.name], stage1).difference > 0]
    chosen, reasons = choose(recipes, runs, stage1, per_batch)
    lines += ["", "The choice (validation only):", "",
              f"- above stage 1 on the mean: {', '.join(above) or 'none'}; beyond the noise: "
              f"{', '.join(beyond) or 'none'}"]
    lines += [f"- {reason}" for reason in reasons]
    lines.append(f"- **chosen: {chosen.name}** = {chosen.describe()}")
    if long_runs is not None:
        longer, results = long_runs
        more, short = seed_runs(results), val[chosen.name]
        lines.append(f"- the chosen recipe with {longer.epochs} epochs instead of {chosen.epochs}: {_pct(more)} "
                     f"({statistics.fmean(r['seconds'] for r in results):.0f} s); {longer.epochs} - {chosen.epochs} "
                     f"epochs = {_points(more, short)}; vs stage 1 {_points(more, stage1)}")
    if tests:
        s1 = SeedRuns(tuple(seeds), tuple({"value": v} for v in tests["stage 1"]))
        s2 = SeedRuns(tuple(seeds), tuple({"value": v} for v in tests[chosen.name]))
        lines += ["", f"Test (`test/`, read once, after the choice): stage 1 {_pct(s1)}, {chosen.name} "
                  f"{_pct(s2)}; stage 2 - stage 1 = {_points(s2, s1)} points."]
    return "\n".join(lines) + "\n", chosen
