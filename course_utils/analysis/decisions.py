"""Notebook 07's answer table (which optimizer, which schedule, which loss), from per-seed results.

Notebook 07 measures, and its last table answers the notes' open questions (优化器的选择,
损失函数的选择). Every verdict in that table is :func:`~course_utils.analysis.seeds.compare`'s or
:func:`~course_utils.analysis.seeds.rank`'s, so the table is a function of the per-seed numbers
alone: :func:`decision_table` builds it from them, 07 prints it, and :func:`save_measurements`
keeps the numbers in ``data_dir()/runs/07/`` so that the cheat sheet (notebook 09) rebuilds the
same table with :func:`load_measurements`, without training anything.

The measurements are a plain JSON mapping; each setting is a *seed record*
(:func:`seed_record`: ``{"seeds": [...], "<metric>": [one value per seed], ...}``)::

    {"fast": bool, "noise": {"head": float, "digits": float},   # compare's floor: one test image
     "optimizers": {"head" | "digits": {"best_lr": {name: rate}, "runs": {name: record(test)},
                                        "sgd_at_adams_rate": record(test)}},
     "range_test": {"suggestion": rate, "swept_lr": rate, "suggested": record(test), "swept": record(test)},
     "schedules": {"epochs": int, "runs": {name: record(test, last train loss)}},
     "weight_decay": {"adam" | "adamw": [[λ, record(val, test)], ...]},
     "imbalance": {method: record(minority)},
     "calibration": {"before": record(value), "after": record(value)},   # test ECE
     "smoothing": {"plain" | "smoothed 0.1": record(test, ece, gap)}}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from course_utils.analysis.seeds import (
    NOISE_RULE,
    Comparison,
    Ranking,
    SeedRuns,
    compare,
    compare_paired,
    rank,
)
from course_utils.storage.cache import write_json

__all__ = ["DECISION_RULE", "MEASUREMENTS_FORMAT", "QUESTIONS", "Decision", "choice", "decision_table",
           "load_measurements", "measurements_path", "save_measurements", "seed_record", "seed_runs"]

MEASUREMENTS_FORMAT = 1
"""Raised when the saved measurements change shape: an older file is then ignored, not misread."""

QUESTIONS = (
    ("优化器的选择", "small head on frozen pretrained features"),
    ("优化器的选择", "small CNN from scratch, short budget"),
    ("学习率", "any new model or optimizer"),
    ("学习率的衰减", "from scratch, a run long enough for a decay to matter"),
    ("优化器的选择", "Adam with weight decay"),
    ("损失函数的选择", "balanced classes"),
    ("损失函数的选择", "imbalanced classes"),
    ("损失函数的选择", "calibrated probabilities needed"),
    ("损失函数的选择", "label smoothing (ε = 0.1), small head"),
)
"""The rows of the table: the notes' question and the situation 07 measured, in 07's order."""

DECISION_RULE = (
    "A row names a choice only when `compare` shows every other setting worse; where all are within the noise "
    "of the best mean, the row says \"no winner at this budget\" and what mattered more. Each row prints its "
    "evidence: the best mean ± spread over seeds and the comparisons it rests on. The noise rule: "
    f"{NOISE_RULE}."
)
"""How :func:`decision_table` turns measurements into choices, in one paragraph."""


class Decision(NamedTuple):
    """One row of the answer table."""

    question: str
    situation: str
    choice: str
    evidence: str

    def __str__(self) -> str:
        return f"{self.question} | {self.situation}\n    choose: {self.choice}\n    measured: {self.evidence}"


def seed_record(runs: SeedRuns, metrics: Sequence[str] = ("value",)) -> dict[str, list[float]]:
    """``runs`` reduced to what a table needs and JSON holds: the seeds and each metric's per-seed values."""
    return {"seeds": [int(s) for s in runs.seeds], **{metric: runs.values(metric) for metric in metrics}}


def seed_runs(record: Mapping[str, Sequence[float]]) -> SeedRuns:
    """The :class:`SeedRuns` a :func:`seed_record` was made from (its numeric metrics only)."""
    seeds = tuple(int(s) for s in record["seeds"])
    metrics = {name: values for name, values in record.items() if name != "seeds"}
    for name, values in metrics.items():
        if len(values) != len(seeds):
            raise ValueError(f"Metric {name!r} has {len(values)} values for {len(seeds)} seeds: the record is damaged.")
    return SeedRuns(seeds=seeds, results=tuple({name: float(values[i]) for name, values in metrics.items()}
                                               for i in range(len(seeds))))


def choice(ranking: Ranking, label: Callable[[str], str] = str) -> str:
    """What a ranking lets us choose: a winner only when every other setting is shown worse."""
    if ranking.all_tied:
        return (f"no winner at this budget: all {len(ranking.comparisons) + 1} within the noise of the best mean "
                f"({label(ranking.best)})")
    tied = f", or any tied with it: {', '.join(ranking.tied)}" if ranking.tied else ""
    return f"{label(ranking.best)}{tied}; shown worse: {', '.join(ranking.worse)}"


def _rate_matters(effect: Comparison, ranking: Ranking) -> str:
    return "; the learning rate mattered more" if effect.differs and ranking.all_tied else ""


def _runs(records: Mapping[str, Mapping[str, Sequence[float]]]) -> dict[str, SeedRuns]:
    return {name: seed_runs(record) for name, record in records.items()}


def _optimizer_row(situation: str, measured: Mapping[str, Any], noise: float) -> Decision:
    best_lr = measured["best_lr"]
    runs = _runs(measured["runs"])
    ranking = rank(runs, "test", min_noise=noise)
    rate_effect = compare(runs["sgd"], seed_runs(measured["sgd_at_adams_rate"]), "test", min_noise=noise)
    return Decision("优化器的选择", situation,
                    choice(ranking, lambda n: f"{n} at {best_lr[n]:g}") + _rate_matters(rate_effect, ranking),
                    f"best mean {runs[ranking.best].describe('test')}; plain SGD at its rate minus at Adam's: "
                    f"{rate_effect}")


def _decay_row(measured: Mapping[str, Any], noise: float) -> Decision:
    runs = {name: [(float(decay), seed_runs(record)) for decay, record in pairs] for name, pairs in measured.items()}
    best = {name: max(pairs, key=lambda pair: pair[1].mean("val")) for name, pairs in runs.items()}
    at_best = compare(best["adamw"][1], best["adam"][1], "test", min_noise=noise)
    if at_best.differs:
        chosen = f"{'AdamW' if at_best.difference > 0 else 'Adam'} at its best λ"
    else:
        chosen = f"either, each at its own best λ (Adam {best['adam'][0]:g}, AdamW {best['adamw'][0]:g}): tied"
    no_decay = {name: dict(pairs)[0.0] for name, pairs in runs.items()}
    gains = [compare(best[name][1], no_decay[name], "test", min_noise=noise) for name in ("adam", "adamw")]
    if not any(gain.differs and gain.difference > 0 for gain in gains):
        chosen += "; no gain from decay itself shown on this head"
    strongest = max(decay for decay, _ in runs["adam"])
    mechanism = compare(dict(runs["adamw"])[strongest], dict(runs["adam"])[strongest], "test", min_noise=noise)
    return Decision("优化器的选择", "Adam with weight decay", chosen,
                    f"at the best λ, AdamW minus Adam {at_best}; the mechanism at λ = {strongest:g}: {mechanism}")


def _smoothing_row(measured: Mapping[str, Any], noise: float) -> Decision:
    runs = _runs(measured)
    smoothed, plain = runs["smoothed 0.1"], runs["plain"]
    accuracy = compare(smoothed, plain, "test", min_noise=noise)
    ece = compare(smoothed, plain, "ece")
    gap = compare_paired(smoothed.values("gap"))
    if accuracy.differs:
        chosen = "not here: it cost accuracy" if accuracy.difference < 0 else "yes: it gained accuracy"
    else:
        chosen = "no gain shown: accuracy within the noise"
    if gap.differs:
        chosen += "; it left the head " + ("under" if gap.difference < 0 else "over") + "-confident"
    return Decision("损失函数的选择", "label smoothing (ε = 0.1), small head", chosen,
                    f"accuracy {accuracy}; ECE {ece}; smoothed mean confidence minus accuracy {gap}")


def decision_table(measured: Mapping[str, Any]) -> list[Decision]:
    """07's answer table from its per-seed measurements (the layout is in this module's docstring).

    Every verdict is recomputed here by :func:`compare`, :func:`rank` or :func:`compare_paired`, so
    the same measurements always give the same table, in 07 and in the cheat sheet.
    """
    noise = measured["noise"]
    optimizers, found = measured["optimizers"], measured["range_test"]
    range_check = compare(seed_runs(found["suggested"]), seed_runs(found["swept"]), "test", min_noise=noise["digits"])
    schedules = _runs(measured["schedules"]["runs"])
    step_vs_constant = compare(schedules["step"], schedules["constant"], "test", min_noise=noise["digits"])
    step_loss = compare(schedules["step"], schedules["constant"], "last train loss")
    imbalance = _runs(measured["imbalance"])
    imbalance_ranking = rank(imbalance, "minority")
    calibration = _runs(measured["calibration"])
    calibration_effect = compare(calibration["after"], calibration["before"])
    return [
        _optimizer_row("small head on frozen pretrained features", optimizers["head"], noise["head"]),
        _optimizer_row("small CNN from scratch, short budget", optimizers["digits"], noise["digits"]),
        Decision("学习率", "any new model or optimizer",
                 f"range test: {found['suggestion']:.2g} (sweep: {found['swept_lr']:g})",
                 f"suggested minus swept: {range_check}"),
        Decision("学习率的衰减", f"from scratch, {measured['schedules']['epochs']} epochs",
                 choice(rank(schedules, "test", min_noise=noise["digits"])),
                 f"StepLR minus constant: test accuracy {step_vs_constant}; last training loss {step_loss}"),
        _decay_row(measured["weight_decay"], noise["head"]),
        Decision("损失函数的选择", "balanced classes", "CrossEntropyLoss on logits (= LogSoftmax + NLLLoss)",
                 "the same loss and gradients (section 2)"),
        Decision("损失函数的选择", "imbalanced classes", choice(imbalance_ranking),
                 f"recall of the rare digits {imbalance[imbalance_ranking.best].describe('minority')}; "
                 f"plain {imbalance['plain'].describe('minority')}"),
        Decision("损失函数的选择", "calibrated probabilities needed",
                 "temperature scaling on validation" if calibration_effect.differs and calibration_effect.difference < 0
                 else "no fix shown: temperature scaling did not lower the ECE here",
                 f"test ECE after minus before {calibration_effect}"),
        _smoothing_row(measured["smoothing"], noise["head"]),
    ]


def measurements_path(data_dir: str | Path, fast: bool) -> Path:
    """``data_dir/runs/07/answers-full.json`` (or ``-fast``): where 07 keeps what its table rests on."""
    return Path(data_dir) / "runs" / "07" / f"answers-{'fast' if fast else 'full'}.json"


def save_measurements(measured: Mapping[str, Any], data_dir: str | Path) -> Path:
    """Save 07's measurements atomically (the file is whole or absent); return its path."""
    decision_table(json.loads(json.dumps(measured)))  # what cannot be rebuilt fails here, in 07, not later in 09
    path = measurements_path(data_dir, bool(measured["fast"]))
    write_json(path, {"format": MEASUREMENTS_FORMAT, **measured})
    return path


def load_measurements(data_dir: str | Path) -> tuple[dict[str, Any], Path] | None:
    """07's saved measurements and their path, a full run's before a fast run's; None when 07 has not run.

    A file of another format (an older 07) or one that cannot be read counts as absent.
    """
    for fast in (False, True):
        path = measurements_path(data_dir, fast)
        try:
            measured = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(measured, dict) and measured.pop("format", None) == MEASUREMENTS_FORMAT:
            return measured, path
    return None
