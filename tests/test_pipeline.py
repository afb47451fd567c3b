"""The whole capstone pipeline, end to end: data, two stages, checkpoints, evaluation, resume.

Small on purpose (few images, small pictures, one or two epochs): these tests show that the
pieces fit together and that the numbers move the right way. The accuracy floors of the
course (85 % on the real subset) are measured in the full run, see benchmarks/RESULTS.md.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest

from course_utils.analysis.confusion import confusion_matrix, top_confusions
from course_utils.analysis.predictions import predict, predict_image
from course_utils.data.flowers import find_flowers, flower_datasets, flower_loaders
from course_utils.data.synthetic_flowers import species_names
from course_utils.data.transforms import TransformSettings, eval_transform
from course_utils.env import FLOWERS_ENV_VAR, run_context
from course_utils.models.build import build_model
from course_utils.models.registry import OFFLINE_MODEL, preprocessing_for
from course_utils.storage.checkpoints import check_compatible, load_checkpoint
from course_utils.transfer.recipe import TransferConfig
from course_utils.transfer.run import run_transfer

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
    settings = dict(image_size=64, batch_size=16, stage1_epochs=2, stage2_epochs=1, stage1_lr=3e-3)
    return TransferConfig(**{**settings, **overrides})


def test_the_whole_pipeline_on_the_synthetic_default(synthetic, tmp_path):
    assert synthetic.is_generated
    context = run_context(device="cpu")
    result = run_transfer(synthetic, quick(), tmp_path / "run", context=context)
    chance = 1 / len(species_names())
    s1, s2 = result.stage1, result.stage2
    assert s1.train_loss[-1] < s1.train_loss[0]
    assert s1.best_acc >= 3 * chance
    assert s2.best_acc >= s1.best_acc - 0.15  # fine-tuning must not undo stage 1
    assert result.test_accuracy is not None

    # The checkpoint alone is enough to rebuild the classifier and predict one file.
    state = load_checkpoint(tmp_path / "run" / "stage2.pt")
    extra = state["extra"]
    check_compatible(state, model_name=OFFLINE_MODEL, class_names=result.class_names)
    assert extra["class_to_idx"]["10"] == 1 and extra["class_names"][1] == species_names()[9]
    settings = TransformSettings.from_dict(extra["transform"])
    assert settings == result.settings and settings.mean == preprocessing_for(OFFLINE_MODEL)[0]
    model = build_model(extra["model_name"], extra["num_classes"], pretrained=False, context=context)
    model.load_state_dict(state["state_dict"])

    test_set = flower_datasets(synthetic, eval_transform=eval_transform(settings))["test"]
    loader = flower_loaders({"test": test_set}, batch_size=16, context=context)["test"]
    predictions = predict(model, loader, context=context)
    assert predictions.accuracy() == pytest.approx(result.test_accuracy)
    assert predictions.topk_accuracy(5) >= predictions.accuracy()
    path, target = test_set.samples[0]
    ranked = predict_image(model, path, extra["class_names"], settings, context=context)
    assert len(ranked) == 5 and ranked[0][0] == extra["class_names"][int(predictions.predicted[0])]
    assert sum(p for _, p in ranked) <= 1 + 1e-6

    matrix = confusion_matrix(predictions, len(extra["class_names"]))
    for confusion in top_confusions(matrix, extra["class_names"]):
        assert confusion.true != confusion.predicted and confusion.count >= 1


@pytest.mark.skipif(not REAL.is_dir(), reason=f"the real Flowers-102 subset is not at {REAL}")
def test_the_whole_pipeline_on_real_photographs(monkeypatch, tmp_path):
    monkeypatch.setenv(FLOWERS_ENV_VAR, str(REAL))
    source = find_flowers()
    assert source.kind == "folder" and source.num_classes == 102
    config = quick(max_per_class=3, stage1_lr=1e-2)
    result = run_transfer(source, config, tmp_path / "run", context=run_context(device="cpu"))
    assert result.stage1.train_loss[-1] < result.stage1.train_loss[0]
    assert result.stage1.best_acc >= 10 / 102  # ten times chance, from 3 photographs a class
    assert result.stage2.best_acc >= result.stage1.best_acc - 0.1
    assert "globe thistle" == result.class_names[1]


def test_stage1_the_notes_way_on_images_also_runs(synthetic, tmp_path):
    """stage1_features=False: a backbone pass over (augmented) images every epoch, as in the notes."""
    result = run_transfer(synthetic, quick(stage1_features=False, stage1_augment=True), tmp_path / "run",
                          context=run_context(device="cpu"))
    assert len(result.stage1.train_loss) == 2 and result.stage1.train_loss[-1] < result.stage1.train_loss[0]
    assert load_checkpoint(tmp_path / "run" / "stage1.pt")["epoch"] == 2
    with pytest.raises(ValueError, match="stage1_features=False"):  # refused before any work
        quick(stage1_augment=True)


def test_the_capstone_run_is_named_after_its_inputs_and_a_finished_one_trains_nothing(synthetic, tmp_path, monkeypatch,
                                                                                    flower_folder, capsys):
    """Notebook 06's run (which 08 reuses): a second call trains neither stage; other flowers, another folder."""
    from course_utils.env import run_context as fresh_context
    from course_utils.transfer.run import capstone_config, capstone_folder, capstone_transfer

    monkeypatch.setenv("COURSE_FAST", "1")
    context = fresh_context(device="cpu")
    first = capstone_transfer(context, synthetic)
    trained = capsys.readouterr().out
    assert "epoch 1/" in trained and first.stage2.epochs == capstone_config(context).stage2_epochs
    assert first.out_dir == capstone_folder(synthetic, capstone_config(context), context)
    assert first.out_dir.parent == context.data_dir / "runs" and first.out_dir.name.startswith("06-flowers-")

    again = capstone_transfer(context, synthetic)
    reused = capsys.readouterr().out
    assert "epoch 1/" not in reused, reused  # neither stage trained
    assert "stage 1: finished" in reused and "Resuming from stage2.pt" in reused
    assert again.weights == first.weights and again.test_accuracy == first.test_accuracy

    other = find_flowers(flower_folder(tmp_path / "other", {s: ["1", "2", "3"] for s in ("train", "valid", "test")},
                                       names={"1": "rose", "2": "tulip", "3": "daisy"}), context=context)
    assert capstone_folder(other, capstone_config(context), context) != first.out_dir
    changed = TransferConfig(stage2_lr=3e-5)
    assert capstone_folder(synthetic, changed, context) != capstone_folder(synthetic, TransferConfig(), context)
