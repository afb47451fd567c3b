"""Stage 2's recipe (``TransferConfig.stage2_*``): what unfreezes, at which rates, on which schedule."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils.command.options import config_from
from course_utils.models.build import build_model
from course_utils.models.heads import head_parameters
from course_utils.training.history import History
from course_utils.training.resume import training_state
from course_utils.transfer.recipe import TransferConfig, last_stage_parameters, stage2_optimizer

CLASSES = 5


@pytest.fixture
def stage1(tmp_path, context):
    """A stage-1 checkpoint of EfficientNet-Lite0 (random weights: nothing to load) after one head step."""
    torch.manual_seed(0)
    model = build_model("efficientnet_lite0", CLASSES, pretrained=False, feature_extract=True, context=context)
    optimizer = torch.optim.Adam(head_parameters(model), lr=1e-3)
    nn.NLLLoss()(model.eval()(torch.randn(2, 3, 64, 64)), torch.tensor([0, 1])).backward()
    optimizer.step()
    path = tmp_path / "stage1.pt"
    history = History()
    history.record((1.0, 0.5), (1.0, 0.5), 1e-3, 0.1)
    history.best_acc, history.best_epoch = 0.5, 1
    training_state(epoch=1, epochs=1, history=history, best_state=model.state_dict(), last_state=model.state_dict(),
                   optimizer=optimizer, extra={"model_name": "efficientnet_lite0", "num_classes": CLASSES}).save(path)
    return path


def fresh(context) -> nn.Module:
    return build_model("efficientnet_lite0", CLASSES, pretrained=False, feature_extract=True, context=context)


def test_the_notes_stage2_unfreezes_everything_but_batchnorm_at_one_rate(stage1, context):
    model = fresh(context)
    optimizer, scheduler = stage2_optimizer(model, stage1, TransferConfig(stage2_layers="all", stage2_lr=1e-4,
                                                                          stage2_schedule="step", step_size=None))
    head, backbone = optimizer.param_groups
    assert head["lr"] == backbone["lr"] == 1e-4 and scheduler is None  # no StepLR: a constant rate
    batchnorm = [p for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters()]
    assert not any(p.requires_grad for p in batchnorm)
    assert len(head["params"]) + len(backbone["params"]) + len(batchnorm) == len(list(model.parameters()))
    assert optimizer.state[head["params"][0]]["step"] == 1  # the head's Adam state from stage 1
    again, _ = stage2_optimizer(model, stage1, TransferConfig(step_size=None))  # called twice: the same groups
    assert [len(g["params"]) for g in again.param_groups] == [len(head["params"]), len(backbone["params"])]


def test_last_stage_and_discriminative_rates(stage1, context):
    model = fresh(context)
    config = TransferConfig(stage2_layers="last-stage", stage2_lr=1e-4, stage2_head_lr=1e-3, stage2_epochs=2,
                            stage2_schedule="warm-up", stage2_warmup_epochs=1)
    optimizer, scheduler = stage2_optimizer(model, stage1, config, steps_per_epoch=10)
    head, backbone = optimizer.param_groups
    last = last_stage_parameters(model)
    assert {id(p) for p in backbone["params"]} == {id(p) for p in last}
    stage2_optimizer(model, stage1, TransferConfig())  # unfreezes everything; then the last stage alone again:
    optimizer, scheduler = stage2_optimizer(model, stage1, config, steps_per_epoch=10)
    head, backbone = optimizer.param_groups
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert trainable == {id(p) for p in last} | {id(p) for p in head["params"]}
    assert 0 < len(last) < len([p for p in model.parameters() if p.dim() > 1])  # part of the backbone only
    # the warm-up: each group starts at a 25th of its rate, peaks at it after one epoch, ends near 0
    rates = []
    for _ in range(20):
        rates.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    assert rates[0] == pytest.approx([1e-3 / 25, 1e-4 / 25])
    assert max(r[0] for r in rates) == pytest.approx(1e-3) and rates[9] == pytest.approx([1e-3, 1e-4])
    assert rates[-1][0] < 1e-3 / 25


def test_bad_recipes_are_refused_before_any_work(stage1, context):
    with pytest.raises(ValueError, match="stage2_layers must be one of"):
        TransferConfig(stage2_layers="half")
    with pytest.raises(ValueError, match="stage2_schedule must be one of"):
        TransferConfig(stage2_schedule="linear")
    with pytest.raises(ValueError, match="between 0 and stage2_epochs"):
        TransferConfig(stage2_epochs=2, stage2_warmup_epochs=3, stage2_schedule="warm-up")
    assert TransferConfig(stage2_epochs=0).stage2_epochs == 0  # stage 1 alone: the warm-up does not matter
    with pytest.raises(ValueError, match="steps_per_epoch"):
        stage2_optimizer(fresh(context), stage1, TransferConfig(stage2_schedule="cosine"))


def test_the_command_offers_every_recipe_field_with_its_choices():
    from course_utils.command.options import build_parser

    parser = build_parser()
    args = parser.parse_args(["train", "--stage2-layers", "last-stage", "--stage2-head-lr", "1e-3",
                              "--stage2-schedule", "warm-up"])
    config = config_from(args)
    assert (config.stage2_layers, config.head_lr, config.stage2_schedule) == ("last-stage", 1e-3, "warm-up")
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--stage2-layers", "half"])
