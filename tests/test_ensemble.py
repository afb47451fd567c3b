"""Several backbones, one head (course_utils.models.ensemble), built by build_model("a+b"),
and the command's stage 1 alone (--stage2-epochs 0), which is how such a model is trained."""

from __future__ import annotations

import pytest
import torch

from course_utils.command.main import main
from course_utils.data.flowers import flower_datasets
from course_utils.data.synthetic_flowers import make_synthetic_flowers
from course_utils.data.transforms import TransformSettings, eval_transform
from course_utils.env import run_context
from course_utils.models.build import build_model
from course_utils.models.ensemble import BackboneEnsemble, member_names
from course_utils.models.heads import head_of, trainable_parameters
from course_utils.models.registry import preprocessing_for
from course_utils.storage.checkpoints import TrainingState
from course_utils.transfer.features import cached_features

PAIR = "efficientnet_lite0+efficientnet_lite1"


@pytest.fixture(scope="module")
def pair():
    context = run_context(device="cpu")
    return build_model(PAIR, 5, context=context).eval()


def test_the_features_are_each_members_features_end_to_end(pair, context):
    images = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    members = [build_model(name, 5, context=context).eval() for name in member_names(PAIR)]
    with torch.no_grad():
        expected = torch.cat([m.features(images) for m in members], dim=1)
        assert torch.allclose(pair.features(images), expected, atol=1e-5)
        assert torch.allclose(pair(images), pair.fc(expected), atol=1e-5)


def test_one_trainable_head_on_all_the_features(pair):
    assert isinstance(pair, BackboneEnsemble) and pair.widths == [1280, 1280]
    assert head_of(pair).name == "fc" and head_of(pair).dropout == 0.2  # the members' dropout, applied once
    assert [(name, tuple(p.shape)) for name, p in trainable_parameters(pair)] == [("fc.0.weight", (5, 2560)),
                                                                                ("fc.0.bias", (5,))]
    assert not any(isinstance(m, torch.nn.Dropout) for m in pair.members.modules())


def test_cached_features_of_the_ensemble_are_the_members_cached_features(pair, tmp_path, context):
    root = make_synthetic_flowers(tmp_path / "flowers", image_size=48, per_class=(1, 1, 1), progress=False)
    settings = TransformSettings(image_size=48, resize_to=48, mean=preprocessing_for(PAIR)[0],
                                 std=preprocessing_for(PAIR)[1])
    train = flower_datasets(root, eval_transform(settings), eval_transform(settings))["train"]
    together = cached_features(pair, train, cache_dir=tmp_path / "cache", progress=False, context=context)
    apart = [cached_features(build_model(name, 5, context=context), train, cache_dir=tmp_path / "cache", progress=False, context=context)
             for name in member_names(PAIR)]
    assert torch.allclose(together.features, torch.cat([a.features for a in apart], dim=2), atol=1e-4)
    assert torch.equal(together.labels, apart[0].labels)


def test_bad_names_get_a_clear_error(context):
    with pytest.raises(ValueError, match="empty model name"):
        build_model("efficientnet_lite0+", 5, context=context)
    with pytest.raises(ValueError, match="names a model twice"):
        build_model("efficientnet_lite0+efficientnet_lite0", 5, context=context)
    with pytest.raises(ValueError, match="differently normalised"):
        build_model("efficientnet_lite0+resnet18", 5, pretrained=False, context=context)


def test_stage1_alone_is_the_result_with_stage2_epochs_0(command_env, capsys):
    tmp_path = command_env
    flowers = make_synthetic_flowers(tmp_path / "flowers", image_size=32, per_class=(2, 2, 1), progress=False)
    out = tmp_path / "run"
    assert main(["train", str(flowers), "--model", PAIR, "--image-size", "32", "--stage1-epochs", "2",
                 "--stage2-epochs", "0", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "stage 2: not run" in printed and not (out / "stage2.pt").exists()
    state = TrainingState.load(out / "stage1.pt")
    assert state.extra["model_name"] == PAIR
    assert main(["evaluate", str(out / "stage1.pt")]) == 0  # the checkpoint rebuilds the ensemble by its name
    accuracy = float(capsys.readouterr().out.split("accuracy ")[1].split()[0])
    assert accuracy == pytest.approx(max(state.history["val_acc"]), abs=1e-4)


def test_train_per_class_keeps_validation_whole(command_env, capsys):
    tmp_path = command_env
    flowers = make_synthetic_flowers(tmp_path / "flowers", image_size=32, per_class=(3, 2, 1), progress=False)
    assert main(["train", str(flowers), "--image-size", "32", "--stage1-epochs", "1", "--stage2-epochs", "0",
                 "--train-per-class", "1", "--out", str(tmp_path / "run")]) == 0
    assert "train 12, valid 24, test 12 images" in capsys.readouterr().out
