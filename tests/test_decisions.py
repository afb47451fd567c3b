"""07's answer table is a function of its per-seed results, saved and rebuilt (course_utils/analysis/decisions.py)."""

from __future__ import annotations

import json

import pytest

from course_utils.analysis.decisions import (
    QUESTIONS,
    choice,
    decision_table,
    load_measurements,
    measurements_path,
    save_measurements,
    seed_record,
    seed_runs,
)
from course_utils.analysis.seeds import SeedRuns, rank

SEEDS = [1, 2, 3]
OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw")


def record(**metrics: list[float]) -> dict:
    return {"seeds": SEEDS, **metrics}


def measurements(*, adam_head: float = 0.80, smoothed: float = 0.74) -> dict:
    """Per-seed numbers shaped like 07's; ``adam_head`` sets how far Adam's head leads the others."""
    spread = [-0.01, 0.0, 0.01]
    around = lambda mean: [mean + d for d in spread]  # noqa: E731
    head = {n: record(test=around(adam_head if n == "adam" else 0.79)) for n in OPTIMIZERS}
    digits = {n: record(test=around(0.90)) for n in OPTIMIZERS}
    return {
        "fast": False,
        "noise": {"head": 1 / 409, "digits": 1 / 1000},
        "optimizers": {
            "head": {"best_lr": {n: 0.01 for n in OPTIMIZERS} | {"sgd": 1.0}, "runs": head,
                     "sgd_at_adams_rate": record(test=around(0.70))},
            "digits": {"best_lr": {n: 0.001 for n in OPTIMIZERS} | {"sgd": 0.1}, "runs": digits,
                       "sgd_at_adams_rate": record(test=around(0.30))},
        },
        "range_test": {"suggestion": 0.0062, "swept_lr": 0.01, "suggested": record(test=around(0.89)),
                       "swept": record(test=around(0.90))},
        "schedules": {"epochs": 10, "runs": {n: record(test=around(0.95 if n != "warmup-cosine" else 0.80),
                                                       **{"last train loss": around(0.1)})
                                             for n in ("constant", "step", "cosine", "warmup-cosine", "one-cycle")}},
        "weight_decay": {n: [[d, record(val=around(0.8 - d / 10), test=around(0.8 - d / 10))]
                             for d in (0.0, 0.01, 1.0)] for n in ("adam", "adamw")},
        "imbalance": {"plain": record(minority=around(0.3)), "class-weighted": record(minority=around(0.5)),
                      "balanced sampling": record(minority=around(0.75))},
        "calibration": {"before": record(value=around(0.10)), "after": record(value=around(0.05))},
        "smoothing": {"plain": record(test=around(0.80), ece=around(0.05), gap=around(0.0)),
                      "smoothed 0.1": record(test=around(smoothed), ece=around(0.08), gap=around(-0.10))},
    }


def test_a_seed_record_holds_the_numbers_and_gives_the_same_runs_back():
    runs = SeedRuns(seeds=(1, 2, 3), results=({"test": 0.5, "history": object()}, {"test": 0.6, "history": None},
                                              {"test": 0.7, "history": None}))
    kept = seed_record(runs, ["test"])
    assert json.loads(json.dumps(kept)) == kept  # plain JSON: what is not a number is left out
    again = seed_runs(kept)
    assert again.seeds == runs.seeds and again.values("test") == runs.values("test")
    with pytest.raises(ValueError, match="damaged"):
        seed_runs({"seeds": [1, 2, 3], "test": [0.5]})


def test_the_table_has_07s_rows_in_07s_order():
    table = decision_table(measurements())
    assert [(row.question, row.situation.split(",")[0]) for row in table] == [
        (q, s.split(",")[0]) for q, s in QUESTIONS]
    assert "\n    choose: " in str(table[0]) and "\n    measured: " in str(table[0])


def test_a_winner_is_named_only_when_every_other_setting_is_shown_worse():
    tied = decision_table(measurements(adam_head=0.795))[0]
    assert tied.choice.startswith("no winner at this budget: all 6 within the noise")
    assert "the learning rate mattered more" in tied.choice  # SGD at Adam's rate is far worse
    clear = decision_table(measurements(adam_head=0.90))[0]
    assert clear.choice.startswith("adam at 0.01; shown worse: sgd, momentum")
    schedules = decision_table(measurements())[3]
    assert schedules.situation == "from scratch, 10 epochs"
    assert schedules.choice.endswith("shown worse: warmup-cosine")


def test_the_loss_rows_follow_the_measured_numbers():
    table = decision_table(measurements())
    assert table[6].choice == "balanced sampling; shown worse: plain, class-weighted"
    assert table[7].choice == "temperature scaling on validation"
    assert table[8].choice == "not here: it cost accuracy; it left the head under-confident"
    assert decision_table(measurements(smoothed=0.80))[8].choice.startswith("no gain shown")
    decay = table[4]
    assert decay.choice.startswith("either, each at its own best λ (Adam 0, AdamW 0): tied")
    assert "the mechanism at λ = 1" in decay.evidence


def test_choice_is_the_rule_of_rank():
    runs = {"a": seed_runs(record(value=[1.0, 1.1, 0.9])), "b": seed_runs(record(value=[0.0, 0.1, -0.1]))}
    assert choice(rank(runs)) == "a; shown worse: b"


def test_saved_measurements_rebuild_the_same_table(tmp_path):
    assert load_measurements(tmp_path) is None  # 07 not run here
    fast = measurements() | {"fast": True}
    save_measurements(fast, tmp_path)
    loaded, path = load_measurements(tmp_path)
    assert path == measurements_path(tmp_path, fast=True)
    assert [str(r) for r in decision_table(loaded)] == [str(r) for r in decision_table(fast)]
    save_measurements(measurements(adam_head=0.9), tmp_path)
    loaded, path = load_measurements(tmp_path)
    assert path.name == "answers-full.json" and not loaded["fast"]  # a full run's answers come first
    assert decision_table(loaded)[0].choice.startswith("adam at 0.01")


def test_a_file_of_another_format_or_cut_short_counts_as_absent(tmp_path):
    path = measurements_path(tmp_path, fast=False)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"format": 0, **measurements()}), encoding="utf-8")
    assert load_measurements(tmp_path) is None
    path.write_text('{"format": 1, "fast"', encoding="utf-8")
    assert load_measurements(tmp_path) is None


def test_measurements_that_cannot_be_rebuilt_are_refused_before_anything_is_written(tmp_path):
    broken = measurements()
    del broken["calibration"]
    with pytest.raises(KeyError):
        save_measurements(broken, tmp_path)
    assert not measurements_path(tmp_path, fast=False).exists()
