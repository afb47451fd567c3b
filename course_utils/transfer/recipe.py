"""The notes' two-stage transfer learning: the recipe's numbers and its two optimizers.

Stage 1 (feature extraction): the pretrained backbone is frozen (冻结), only the new head
trains, with Adam and a step learning-rate decay (学习率衰减, ``StepLR``).

Stage 2 (fine-tuning): the best stage-1 checkpoint is loaded (weights *and* optimizer),
the backbone is unfrozen (its BatchNorm layers keep their pretrained statistics), and
training continues with a lower learning rate, so that the pretrained weights are
adjusted rather than destroyed.

:class:`TransferConfig` holds every number of the recipe, once: notebook 06, the orchestrator
(:func:`course_utils.transfer.run.run_transfer`), the command line (whose options are generated
from its fields, :mod:`course_utils.command.options`) and the benchmark read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from course_utils.data.flowers import FlowerFolder
from course_utils.data.transforms import TransformSettings
from course_utils.models.heads import head_parameters, unfreeze
from course_utils.models.registry import preprocessing_for
from course_utils.storage.checkpoints import TrainingState, check_compatible

__all__ = ["TransferConfig", "model_card", "stage1_optimizer", "stage2_optimizer"]

Optimizers = tuple[torch.optim.Adam, torch.optim.lr_scheduler.StepLR]


def _setting(default: Any, help: str, **options: Any) -> Any:
    """A recipe field with its command-line help (``options``: ``flag``, ``metavar``, ``minimum``)."""
    return field(default=default, metadata={"help": help, **options})


@dataclass(frozen=True)
class TransferConfig:
    """The recipe of one transfer-learning run, decided once.

    Each field's metadata holds its help text: ``python -m course_utils train --help`` is
    generated from it, so a new field is a new option without a second definition.
    """

    model_name: str = _setting("efficientnet_lite0", "efficientnet_lite0 (offline weights; also _lite1, _lite2) or "
                               "a torchvision model, e.g. resnet152; names joined by + share one head", flag="--model")
    image_size: int = _setting(160, "crop size (the notes use 224; the offline weights were trained at 224)",
                               metavar="PX", minimum=1)
    resize_to: int | None = _setting(None, "shorter side before the crop (default: image size x 256/224)",
                                     metavar="PX", minimum=1)
    batch_size: int = _setting(32, "global batch, all processes together", metavar="N", minimum=1)
    max_per_class: int | None = _setting(None, "use at most N images per class in every split", metavar="N",
                                         minimum=1)
    train_per_class: int | None = _setting(None, "train on at most N images per class; validation and test stay "
                                           "whole (how the recipe fares with less data)", metavar="N", minimum=1)
    stage1_features: bool = _setting(True, "stage 1 on the frozen backbone's features, computed once and cached "
                                     "(--no-stage1-features: a backbone pass over the images every epoch, the notes' way)")
    # Stage 1 on un-augmented images (the eval transform), as on cached features: with a frozen
    # backbone and few epochs, augmentation cost accuracy on the real subset (benchmarks/RESULTS.md).
    stage1_augment: bool = _setting(False, "stage 1 on augmented images (needs --no-stage1-features)")
    stage1_epochs: int = _setting(6, "epochs of stage 1 (at most, with --stage1-patience)", metavar="N", minimum=1)
    stage1_lr: float = _setting(3e-3, "Adam's rate for the head", metavar="LR")
    stage1_patience: int | None = _setting(None, "stop stage 1 after N epochs without a better validation "
                                           "accuracy (default: run every epoch)", metavar="N", minimum=1)
    stage2_epochs: int = _setting(6, "epochs of stage 2 (0: stage 1 alone, its best epoch is the result)",
                                  metavar="N", minimum=0)
    stage2_lr: float = _setting(1e-4, "rate for fine-tuning", metavar="LR")
    stage2_batchnorm: bool = _setting(False, "BatchNorm trains in stage 2 too, as in the notes (the course keeps it "
                                      "frozen, with its pretrained statistics)")
    step_size: int = _setting(4, "StepLR: multiply the rate by --gamma every N epochs", metavar="N", minimum=1)
    gamma: float = _setting(0.1, "StepLR's factor")
    seed: int = _setting(0, "seed of the head's initial weights, the batch order and the augmentation", minimum=0)

    def __post_init__(self) -> None:
        """A clear error for settings that contradict each other, before any work is done."""
        if self.stage1_features and self.stage1_augment:
            raise ValueError("stage1_augment needs stage1_features=False (--no-stage1-features): cached "
                             "features are computed once, from un-augmented images.")

    def limits(self) -> dict[str, int | None]:
        """Images per class and split (``max_per_class``, with ``train_per_class`` for training)."""
        train = self.train_per_class
        if self.max_per_class is not None:
            train = self.max_per_class if train is None else min(train, self.max_per_class)
        return {"train": train, "valid": self.max_per_class, "test": self.max_per_class}

    def transform_settings(self) -> TransformSettings:
        """Image size, resize and the normalisation the pretrained weights expect."""
        mean, std = preprocessing_for(self.model_name)
        return TransformSettings(image_size=self.image_size, mean=mean, std=std, resize_to=self.resize_to)


def model_card(model_name: str, train_set: FlowerFolder, settings: TransformSettings) -> dict[str, Any]:
    """What a checkpoint needs beyond weights to be used later: model, classes, preprocessing
    (``fit(..., checkpoint_extra=model_card(...))``)."""
    return {
        "model_name": model_name,
        "num_classes": len(train_set.classes),
        "class_names": list(train_set.class_names),
        "class_to_idx": dict(train_set.class_to_idx),
        "transform": settings.to_dict(),
    }


def stage1_optimizer(model: nn.Module, config: TransferConfig) -> Optimizers:
    """Adam on the trainable parameters (the head, when the backbone is frozen) and StepLR."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ValueError("No parameter of this model requires a gradient: nothing would train.")
    optimizer = torch.optim.Adam(trainable, lr=config.stage1_lr)
    return optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)


def stage2_optimizer(
    model: nn.Module,
    stage1_checkpoint: str | Path,
    config: TransferConfig,
    *,
    class_names: list[str] | None = None,
) -> Optimizers:
    """Load the best stage-1 weights and optimizer, unfreeze the backbone, lower the learning rate.

    The stage-1 optimizer only knew the head's parameters, so it is rebuilt over the head,
    its saved state (Adam's running averages) is loaded, and the unfrozen backbone joins
    as a second parameter group. Both groups then use ``config.stage2_lr``. BatchNorm layers
    stay frozen (see :func:`course_utils.models.heads.unfreeze`). Returns (optimizer, StepLR).
    Call it with the model on its training device: the optimizer's state follows the parameters.
    """
    state = TrainingState.load(stage1_checkpoint)
    check_compatible(state.to_dict(), model_name=config.model_name, class_names=class_names)
    model.load_state_dict(state.best_weights())
    optimizer = torch.optim.Adam(list(head_parameters(model)))
    optimizer.load_state_dict(state.optimizer)  # the head's Adam state from stage 1
    backbone = unfreeze(model, batchnorm=config.stage2_batchnorm)
    for group in optimizer.param_groups:
        group["lr"] = config.stage2_lr
        group.pop("initial_lr", None)  # let the new scheduler start from the new rate
    optimizer.add_param_group({"params": backbone, "lr": config.stage2_lr})
    return optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)
