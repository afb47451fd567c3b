"""The whole capstone pipeline, end to end: data, two stages, checkpoints, evaluation, resume.

Small on purpose (few images, small pictures, one or two epochs): these tests show that the
pieces fit together and that the numbers move the right way. The accuracy floors of the
course (85 % on the real subset) are measured in the full run, see README.md.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest
import torch
from torch import nn

from course_utils.data.flowers import FLOWERS_ENV_VAR, find_flowers, flower_datasets, flower_loaders
from course_utils.data.synthetic_flowers import species_names
from course_utils.data.transforms import TransformSettings, eval_transform, train_transform
from course_utils.pipeline.evaluation import (
    confused_pairs,
    predict,
    predict_image,
    show_predictions,
)
from course_utils.pipeline.models import OFFLINE_MODEL, build_model, preprocessing_for
from course_utils.pipeline.training import fit
from course_utils.pipeline.transfer import (
    TransferConfig,
    checkpoint_extra,
    run_transfer,
    stage1_optimizer,
)
from course_utils.storage.checkpoints import check_compatible, load_checkpoint

matplotlib.use("Agg")

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "flowers102-small"


@pytest.fixture
def synthetic(monkeypatch, tmp_path):
    """The default source, as a learner without data or network gets it (smaller pictures)."""
    monkeypatch.delenv(FLOWERS_ENV_VAR, raising=False)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    return find_flowers(synthetic_size=64, synthetic_per_class=(6, 3, 3), progress=False)


def quick(**overrides) -> TransferConfig:
    settings = dict(image_size=64, batch_size=16, stage1_epochs=2, stage2_epochs=1, stage1_lr=3e-3,
                    num_workers=0, device="cpu", progress=False)
    return TransferConfig(**{**settings, **overrides})


def test_the_whole_pipeline_on_the_synthetic_default(synthetic, tmp_path):
    assert synthetic.is_synthetic
    result = run_transfer(synthetic, tmp_path / "run", quick())
    chance = 1 / len(species_names())
    s1, s2 = result.stage1, result.stage2
    assert s1.train_loss[-1] < s1.train_loss[0]
    assert s1.best_acc >= 3 * chance
    assert s2.best_acc >= s1.best_acc - 0.15  # fine-tuning must not undo stage 1
    assert result.test_accuracy is not None and result.test_top5 >= result.test_accuracy

    # The checkpoint alone is enough to rebuild the classifier and predict one file.
    state = load_checkpoint(tmp_path / "run" / "stage2.pt")
    extra = state["extra"]
    check_compatible(state, model_name=OFFLINE_MODEL, class_names=result.class_names)
    assert extra["class_to_idx"]["10"] == 1 and extra["class_names"][1] == species_names()[9]
    settings = TransformSettings.from_dict(extra["transform"])
    assert settings == result.settings and settings.mean == preprocessing_for(OFFLINE_MODEL)[0]
    model = build_model(extra["model_name"], extra["num_classes"], pretrained=False)
    model.load_state_dict(state["state_dict"])

    test_set = flower_datasets(synthetic, eval_transform=eval_transform(settings))["test"]
    loader = flower_loaders({"test": test_set}, batch_size=16, num_workers=0)["test"]
    predictions = predict(model, loader, device="cpu")
    assert predictions.accuracy() == pytest.approx(result.test_accuracy)
    path, target = test_set.samples[0]
    ranked = predict_image(model, path, extra["class_names"], settings, device="cpu")
    assert len(ranked) == 5 and ranked[0][0] == extra["class_names"][int(predictions.predicted[0])]
    assert sum(p for _, p in ranked) <= 1 + 1e-6

    for true, predicted, count in confused_pairs(predictions, extra["class_names"]):
        assert true != predicted and count >= 1
    fig = show_predictions(model, test_set, extra["class_names"], n=4, settings=settings, device="cpu")
    colours = {ax.title.get_color() for ax in fig.axes}
    assert len(fig.axes) == 4 and colours <= {"green", "red"}


@pytest.mark.skipif(not REAL.is_dir(), reason=f"the real Flowers-102 subset is not at {REAL}")
def test_the_whole_pipeline_on_real_photographs(monkeypatch, tmp_path):
    monkeypatch.setenv(FLOWERS_ENV_VAR, str(REAL))
    source = find_flowers()
    assert source.kind == "folder" and source.num_classes == 102
    config = quick(max_per_class={"train": 3, "valid": 1}, stage1_lr=1e-2)
    result = run_transfer(source, tmp_path / "run", config)
    assert result.stage1.train_loss[-1] < result.stage1.train_loss[0]
    assert result.stage1.best_acc >= 10 / 102  # ten times chance, from 3 photographs a class
    assert result.stage2.best_acc >= result.stage1.best_acc - 0.1
    assert "globe thistle" == result.class_names[1]


def test_a_resumed_run_ends_with_the_history_of_an_uninterrupted_one(synthetic, tmp_path):
    """Stopped after epoch 1 and resumed from the checkpoint: the same 2-epoch history, bit for bit,
    with random augmentation done in a worker process."""
    mean, std = preprocessing_for(OFFLINE_MODEL)
    settings = TransformSettings(image_size=48, mean=mean, std=std)
    sets = flower_datasets(synthetic, train_transform(settings), eval_transform(settings),
                           max_per_class={"train": 3, "valid": 2})

    def run(epochs: int, checkpoint: Path, resume: bool = False):
        loaders = flower_loaders(sets, batch_size=12, num_workers=1, seed=0)
        torch.manual_seed(0)
        model = build_model(OFFLINE_MODEL, len(sets["train"].classes))
        optimizer, scheduler = stage1_optimizer(model, lr=3e-3, step_size=1, gamma=0.5)
        history = fit(model, loaders["train"], loaders["valid"], epochs=epochs, optimizer=optimizer,
                      scheduler=scheduler, criterion=nn.NLLLoss(), device="cpu", checkpoint=checkpoint,
                      checkpoint_extra=checkpoint_extra(OFFLINE_MODEL, sets["train"], settings),
                      resume=resume, seed=0, progress=False)
        return history, model

    straight, model_a = run(2, tmp_path / "a.pt")
    run(1, tmp_path / "b.pt")
    resumed, model_b = run(2, tmp_path / "b.pt", resume=True)
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
        assert getattr(resumed, key) == getattr(straight, key), key
    assert (resumed.best_acc, resumed.best_epoch) == (straight.best_acc, straight.best_epoch)
    assert all(torch.equal(a, b) for a, b in zip(model_a.state_dict().values(), model_b.state_dict().values(), strict=True))


def test_stage1_the_notes_way_on_images_also_runs(synthetic, tmp_path):
    """stage1_features=False: a backbone pass over (augmented) images every epoch, as in the notes."""
    result = run_transfer(synthetic, tmp_path / "run", quick(stage1_features=False, stage1_augment=True))
    assert len(result.stage1.train_loss) == 2 and result.stage1.train_loss[-1] < result.stage1.train_loss[0]
    assert load_checkpoint(tmp_path / "run" / "stage1.pt")["epoch"] == 2
    with pytest.raises(ValueError, match="stage1_features=False"):
        run_transfer(synthetic, tmp_path / "other", quick(stage1_augment=True))
