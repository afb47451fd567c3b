"""The freeze-depth experiment's runner: subsets, what trains at each depth, saved results, the summary."""

from __future__ import annotations

import json

import pytest
import torch

from course_utils.data.synthetic_flowers import make_synthetic_flowers
from course_utils.models.build import build_model
from course_utils.models.stages import split_last_stage
from course_utils.transfer.freezing import (
    DEPTHS,
    FreezeExperiment,
    FreezeResult,
    conclusion,
    pick_per_class,
    summary_table,
)


@pytest.fixture(scope="module")
def flowers(tmp_path_factory):
    """12 synthetic classes, 4 training and 2 validation images each."""
    return make_synthetic_flowers(tmp_path_factory.mktemp("data"), image_size=48, per_class=(4, 2, 1),
                                  progress=False)


def test_pick_per_class_takes_n_of_every_class_and_depends_on_the_seed():
    targets = [c for c in range(5) for _ in range(6)]
    chosen = pick_per_class(targets, 2, seed=0)
    assert [targets[i] for i in chosen].count(3) == 2 and len(chosen) == 10
    assert pick_per_class(targets, 2, seed=0) == chosen
    assert any(pick_per_class(targets, 2, seed=s) != chosen for s in range(1, 5))
    assert len(pick_per_class(targets, 50, seed=0)) == 30  # a class with fewer keeps them all
    with pytest.raises(ValueError, match="at least 1"):
        pick_per_class(targets, 0, seed=0)


@pytest.mark.parametrize("name", ["efficientnet_lite0", "resnet18"])
def test_prefix_and_suffix_compose_to_the_model(name, context):
    model = build_model(name, 7, pretrained=False, context=context).eval()
    split = split_last_stage(model)
    last = split.trainable[0]
    assert last is (model.blocks[len(split.prefix) - 3] if name != "resnet18" else model.layer4)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(split.suffix(split.prefix(x)), model(x), atol=1e-5)
        assert split.suffix.features(split.prefix(x)).shape == (2, model.get_submodule("fc.0").in_features)
    assert all(any(p is q for q in model.parameters()) for p in split.suffix.parameters())  # the model's own


def test_a_model_without_a_known_last_stage_is_refused_with_what_to_use(context):
    model = build_model("mobilenet_v3_small", 7, pretrained=False, context=context)
    with pytest.raises(ValueError, match="EfficientNet-Lite or a ResNet"):
        split_last_stage(model)


def test_each_depth_trains_what_it_says_and_a_second_run_loads_the_results(flowers, tmp_path, context):
    experiment = FreezeExperiment(flowers, context, image_size=48, head_epochs=3, patience=2, finetune_epochs=1,
                                  results_dir=tmp_path, progress=False)
    results = experiment.run_one(2, seed=0)
    assert [r.depth for r in results] == list(DEPTHS)
    head, last, everything = results
    assert head.trainable < last.trainable < everything.trainable
    assert head.trainable == build_model("efficientnet_lite0", 12, context=context).fc[0].weight.numel() + 12
    assert all(0.0 <= r.best_acc <= 1.0 and r.images_per_class == 2 for r in results)
    saved = list(tmp_path.glob("freeze-*.json"))
    assert len(saved) == 1 and set(json.loads(saved[0].read_text())) == set(DEPTHS)
    again = FreezeExperiment(flowers, context, image_size=48, head_epochs=3, patience=2, finetune_epochs=1,
                             results_dir=tmp_path, progress=False).run_one(2, seed=0)
    assert again == results  # loaded, not trained: identical to the last digit, times included
    assert experiment.run_one(2, seed=0, depths=("all",)) == [everything]  # a saved depth is not trained again
    with pytest.raises(ValueError, match="Unknown depth"):
        experiment.run_one(2, seed=0, depths=("everything",))
    with pytest.raises(ValueError, match="random weights"):
        experiment.run_one(2, seed=0, pretrained=False)


def test_from_scratch_trains_batchnorm_too(flowers, context):
    experiment = FreezeExperiment(flowers, context, image_size=48, head_epochs=1, finetune_epochs=1, progress=False)
    (scratch,) = experiment.run_one(2, seed=0, depths=("all",), pretrained=False)
    model = build_model("efficientnet_lite0", 12, pretrained=False, feature_extract=False, context=context)
    assert scratch.trainable == sum(p.numel() for p in model.parameters()) and not scratch.pretrained


def _r(n, depth, seed, acc):
    return FreezeResult(n, depth, seed, True, acc, 1, 1, 1, 0.0)


def test_summary_and_conclusion_separate_a_real_difference_from_noise():
    results = [_r(2, "head", s, a) for s, a in enumerate((0.50, 0.52, 0.51))]
    results += [_r(2, "all", s, a) for s, a in enumerate((0.40, 0.41, 0.39))]
    results += [_r(20, "head", s, a) for s, a in enumerate((0.80, 0.70, 0.75))]
    results += [_r(20, "all", s, a) for s, a in enumerate((0.78, 0.74, 0.77))]
    rows = summary_table(results)
    assert [(r["images_per_class"], r["depth"]) for r in rows] == [(2, "head"), (2, "all"), (20, "head"),
                                                                   (20, "all")]
    assert rows[0]["mean"] == pytest.approx(0.51) and rows[0]["seeds"] == 3
    verdict = conclusion(results)
    assert (verdict[2].best, verdict[2].runner_up, verdict[2].clear) == ("head", "all", True)  # 11 points apart
    assert (verdict[20].best, verdict[20].clear) == ("all", False)  # 1.3 points apart, seeds 5 apart: noise
    assert verdict[2].comparison.difference == pytest.approx(0.11)
