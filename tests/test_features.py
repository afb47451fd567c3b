"""Stage 1 on cached features: the same head as stage 1 on images, a cache that is reused when it
may be and recomputed when it must be, and a checkpoint that stage 2 accepts."""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from course_utils.data.flowers import flower_datasets
from course_utils.data.synthetic_flowers import make_synthetic_flowers
from course_utils.data.transforms import TransformSettings, eval_transform, train_transform
from course_utils.models.backbone import inference_backbone
from course_utils.models.build import build_model
from course_utils.models.heads import head_module, head_of, record_head
from course_utils.models.registry import OFFLINE_MODEL, preprocessing_for
from course_utils.storage.checkpoints import load_checkpoint
from course_utils.training.loop import evaluate, fit
from course_utils.transfer import features as features_module
from course_utils.transfer.features import (
    FeatureSet,
    cached_features,
    extract_features,
    feature_key,
    fit_head,
)
from course_utils.transfer.recipe import (
    TransferConfig,
    model_card,
    stage1_optimizer,
    stage2_optimizer,
)


@pytest.fixture(scope="module")
def flowers(tmp_path_factory):
    """A small synthetic flower set (12 classes, 6 training and 3 validation images each)."""
    return make_synthetic_flowers(tmp_path_factory.mktemp("data"), image_size=64, per_class=(6, 3, 1),
                                  progress=False)


def settings(size: int = 64) -> TransformSettings:
    mean, std = preprocessing_for(OFFLINE_MODEL)
    return TransformSettings(image_size=size, mean=mean, std=std)


def tiny_model(num_classes: int = 12, seed: int = 0) -> nn.Module:
    """A small CNN with the notes' head: convolution, BatchNorm, pooling, dropout, Linear + LogSoftmax."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3),
        nn.Sequential(nn.Linear(16, num_classes), nn.LogSoftmax(dim=1)),
    )
    record_head(model, "9", dropout=0.3)
    return model


# --- where the head is -------------------------------------------------------------------


def test_build_model_records_the_notes_head_and_its_dropout(context):
    model = build_model(OFFLINE_MODEL, 5, context=context)
    assert head_of(model).name == "fc" and isinstance(head_module(model), nn.Sequential)
    assert head_of(model).dropout == pytest.approx(0.2)
    plain = build_model(OFFLINE_MODEL, 5, log_softmax=False, context=context)
    assert head_of(plain).name == "fc" and isinstance(head_module(plain), nn.Linear)
    with pytest.raises(ValueError, match="record_head"):
        head_of(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)))
    squeeze = nn.Sequential(nn.Conv2d(3, 4, 1))
    record_head(squeeze, "0")
    with pytest.raises(ValueError, match="not a Linear layer"):
        head_module(squeeze)


def test_the_inference_backbone_folds_batchnorm_and_gives_the_head_its_input():
    model = tiny_model().eval()
    x = torch.randn(4, 3, 20, 20)
    backbone = inference_backbone(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in backbone.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 2  # the model itself is untouched
    with torch.no_grad():
        assert torch.allclose(model[9](backbone(x)), model(x), atol=1e-5)
        assert torch.allclose(backbone(x), inference_backbone(model, fold_batchnorm=False)(x), atol=1e-5)


def test_a_batchnorm_that_runs_before_its_convolution_is_not_folded(context):
    """Folding reads the order the layers were created in; the check against the model catches a lie."""

    class NormFirst(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 3, 3, padding=1), nn.BatchNorm2d(3)
            self.fc = nn.Linear(3, 4)

        def forward(self, x):
            return self.fc(self.conv(self.bn(x)).mean(dim=(2, 3)))

    torch.manual_seed(0)
    model = NormFirst()
    record_head(model, "fc")
    with torch.no_grad():  # statistics far from the identity, so a wrong fold shows
        model.bn.running_mean.uniform_(-2, 2)
        model.bn.running_var.uniform_(0.2, 3)
    model.eval()
    x = torch.randn(6, 3, 8, 8)
    with torch.no_grad():
        assert not torch.allclose(inference_backbone(model)(x), inference_backbone(model, fold_batchnorm=False)(x),
                                  atol=1e-3)
    features, _ = extract_features(model, [(x, torch.zeros(6, dtype=torch.long))], progress=False, context=context)
    with torch.no_grad():
        assert torch.allclose(model.fc(features), model(x), atol=1e-5)


def test_a_model_that_does_something_after_its_head_is_refused(context):
    class Doubled(nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.fc = nn.Flatten(), nn.Linear(12, 3)

        def forward(self, x):
            return 2 * self.fc(self.body(x))

    loader = [(torch.randn(4, 3, 2, 2), torch.zeros(4, dtype=torch.long))]
    doubled = Doubled()
    record_head(doubled, "fc")
    with pytest.raises(ValueError, match="after the head"):
        extract_features(doubled, loader, progress=False, context=context)


# --- the same head as stage 1 on images --------------------------------------------------


def test_cached_features_train_the_head_as_well_as_stage1_on_images(flowers, tmp_path, context):
    """Same model, data, optimizer and epochs; the only difference is where the features come from."""
    sets = flower_datasets(flowers, eval_transform(settings()), eval_transform(settings()))
    epochs = 4

    torch.manual_seed(0)
    on_images = build_model(OFFLINE_MODEL, 12, context=context)
    optimizer, scheduler = stage1_optimizer(on_images, TransferConfig(stage1_lr=3e-3))
    plain = fit(on_images, DataLoader(sets["train"], batch_size=16, shuffle=True,
                                      generator=torch.Generator().manual_seed(0)),
                DataLoader(sets["valid"], batch_size=36), epochs=epochs, optimizer=optimizer,
                scheduler=scheduler, criterion=nn.NLLLoss(), progress=False, context=context)

    torch.manual_seed(0)
    model = build_model(OFFLINE_MODEL, 12, context=context)
    optimizer, scheduler = stage1_optimizer(model, TransferConfig(stage1_lr=3e-3))
    train = cached_features(model, sets["train"], cache_dir=tmp_path, progress=False, context=context)
    valid = cached_features(model, sets["valid"], cache_dir=tmp_path, progress=False, context=context)
    cached = fit_head(model, train, valid, epochs=epochs, optimizer=optimizer, scheduler=scheduler,
                      criterion=nn.NLLLoss(), batch_size=16, progress=False, context=context)

    chance = 1 / 12
    assert plain.best_acc > 3 * chance and cached.best_acc > 3 * chance
    assert abs(plain.best_acc - cached.best_acc) <= 0.2, (plain.best_acc, cached.best_acc)  # 36 images: noise
    assert cached.train_loss[-1] < cached.train_loss[0]
    # the trained head is the model's own head: the full model on images agrees with the features
    _, accuracy = evaluate(model, DataLoader(sets["valid"], batch_size=36), criterion=nn.NLLLoss(), context=context)
    assert accuracy == pytest.approx(cached.best_acc, abs=1.5 / len(sets["valid"]))


def test_the_stage1_checkpoint_feeds_stage2_unchanged(flowers, tmp_path, context):
    sets = flower_datasets(flowers, eval_transform(settings(48)), eval_transform(settings(48)),
                           max_per_class={"train": 2, "valid": 1, "test": 1})
    model = tiny_model()
    for p in list(model.parameters())[:-2]:
        p.requires_grad = False
    optimizer, scheduler = stage1_optimizer(model, TransferConfig(stage1_lr=1e-2))
    train = cached_features(model, sets["train"], cache_dir=tmp_path, progress=False, context=context)
    valid = cached_features(model, sets["valid"], cache_dir=tmp_path, progress=False, context=context)
    extra = model_card("tiny", sets["train"], settings(48))
    history = fit_head(model, train, valid, epochs=2, optimizer=optimizer, scheduler=scheduler,
                       criterion=nn.NLLLoss(), checkpoint=tmp_path / "stage1.pt",
                       checkpoint_extra=extra, progress=False, context=context)
    state = load_checkpoint(tmp_path / "stage1.pt")
    assert state["best_epoch"] == history.best_epoch and state["stage1"]["views"] == 1
    assert set(state["state_dict"]) == set(model.state_dict())  # the full model, not just the head

    fresh = tiny_model(seed=1)
    for p in list(fresh.parameters())[:-2]:
        p.requires_grad = False
    optimizer, _ = stage2_optimizer(fresh, tmp_path / "stage1.pt", TransferConfig(model_name="tiny", stage2_lr=1e-4),
                                    class_names=sets["train"].class_names)
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), model.state_dict().values(),
                                                 strict=True))
    assert fresh[0].weight.requires_grad and fresh[3].weight.requires_grad  # the backbone trains again
    assert len(optimizer.param_groups) == 2


# --- the cache ---------------------------------------------------------------------------


def test_the_cache_is_reused_and_recomputed_when_something_changes(flowers, tmp_path, monkeypatch, context):
    sets = flower_datasets(flowers, eval_transform(settings(48)), eval_transform(settings(48)),
                           max_per_class={"train": 2, "valid": 1, "test": 1})
    model = tiny_model()
    first = cached_features(model, sets["train"], cache_dir=tmp_path, progress=False, context=context)
    assert not first.from_cache and first.features.shape == (1, 24, 16) and first.path.is_file()

    calls = []
    real_extract = features_module.extract_features
    monkeypatch.setattr(features_module, "extract_features",
                        lambda *a, **k: calls.append(1) or real_extract(*a, **k))
    again = cached_features(model, sets["train"], cache_dir=tmp_path, progress=False, context=context)
    assert again.from_cache and not calls and torch.equal(again.features, first.features)

    with torch.no_grad():  # the head changes in stage 1; the features do not depend on it
        model[9][0].weight.add_(1.0)
    assert feature_key(model, sets["train"]) == first.key

    with torch.no_grad():  # a different backbone: different features
        model[0].weight.mul_(1.01)
    changed = cached_features(model, sets["train"], cache_dir=tmp_path, progress=False, context=context)
    assert not changed.from_cache and changed.key != first.key and len(calls) == 1

    sets["train"].transform = eval_transform(settings(40))  # a different transform
    assert feature_key(model, sets["train"]) != changed.key
    sets["train"].transform = eval_transform(settings(48))

    path = sets["train"].samples[0][0]  # a changed image file
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 10**9))
    assert feature_key(model, sets["train"]) != changed.key


def test_augmented_views_differ_are_reproducible_and_cycle_by_epoch(flowers, tmp_path, context):
    sets = flower_datasets(flowers, train_transform(settings(48)), None, max_per_class=1)
    model = tiny_model()
    views = cached_features(model, sets["train"], views=3, cache_dir=tmp_path,
                            progress=False, context=context)
    assert views.views == 3 and len(views) == 12
    assert not torch.allclose(views.features[0], views.features[1])
    again = cached_features(model, sets["train"], views=3,
                            cache_dir=tmp_path / "elsewhere", progress=False, context=context)
    assert torch.equal(again.features, views.features)  # each view is seeded

    batches = views.loader(batch_size=12)  # no shuffling: one batch is the whole view
    seen = [next(iter(batches))[0] for _ in range(4)]
    for k, batch in enumerate(seen):
        assert torch.equal(batch, views.features[k % 3])


def test_bad_arguments_get_clear_errors(flowers, tmp_path, context):
    sets = flower_datasets(flowers, eval_transform(settings(48)), None, max_per_class=1)
    with pytest.raises(ValueError, match="views must be a positive integer"):
        cached_features(tiny_model(), sets["train"], views=0, cache_dir=tmp_path, progress=False, context=context)
    with pytest.raises(TypeError, match="no .samples"):
        feature_key(tiny_model(), [(torch.zeros(3, 8, 8), 0)])
    with pytest.raises(ValueError, match="batch_size"):
        FeatureSet(torch.zeros(1, 2, 3), torch.zeros(2, dtype=torch.long)).loader(0)
