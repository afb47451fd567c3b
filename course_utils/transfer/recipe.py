"""The notes' two-stage transfer learning: the recipe's numbers and its two optimizers.

Stage 1 (feature extraction): the pretrained backbone is frozen (冻结), only the new head
trains, with Adam and a step learning-rate decay (学习率衰减, ``StepLR``).

Stage 2 (fine-tuning): the best stage-1 checkpoint is loaded (weights *and* optimizer),
the backbone is unfrozen (its BatchNorm layers keep their pretrained statistics), and
training continues with a lower learning rate, so that the pretrained weights are
adjusted rather than destroyed. How much unfreezes (``stage2_layers``: everything, the notes' way,
or the last stage), at which rates (``stage2_head_lr`` and ``stage2_lr``: discriminative rates
when they differ) and on which schedule (``stage2_schedule``: the notes' ``StepLR``, or a warm-up
then a cosine decay, stepped after every batch) is the recipe's choice; the defaults are the
recipe chosen by measurement (``benchmarks/RESULTS.md``, "Which stage 2").

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
from course_utils.models.stages import split_last_stage
from course_utils.storage.checkpoints import TrainingState, check_compatible

__all__ = ["STAGE2_LAYERS", "STAGE2_SCHEDULES", "TransferConfig", "last_stage_parameters", "model_card",
           "stage1_optimizer", "stage2_optimizer"]

Optimizers = tuple[torch.optim.Adam, Any]
"""Adam and its scheduler (``StepLR``, ``OneCycleLR``, or None for a constant rate)."""
STAGE2_LAYERS = ("all", "last-stage")
STAGE2_SCHEDULES = ("step", "warm-up", "cosine")


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
    stage1_epochs: int = _setting(60, "epochs of stage 1 at most (it stops earlier, see --stage1-patience)",
                                  metavar="N", minimum=1)
    stage1_lr: float = _setting(3e-3, "Adam's rate for the head", metavar="LR")
    stage1_patience: int | None = _setting(8, "stop stage 1 after N epochs without a better validation "
                                           "accuracy (on cached features an epoch costs milliseconds)", metavar="N",
                                           minimum=1)
    stage2_epochs: int = _setting(6, "epochs of stage 2 (0: stage 1 alone, its best epoch is the result)",
                                  metavar="N", minimum=0)
    stage2_lr: float = _setting(1e-4, "rate for fine-tuning the backbone", metavar="LR")
    stage2_head_lr: float | None = _setting(None, "rate for the head in stage 2 (default: --stage2-lr; higher: "
                                            "discriminative rates)", metavar="LR")
    stage2_layers: str = _setting("all", "what unfreezes in stage 2: all (every layer but BatchNorm, the notes' way) "
                                  "or last-stage (the backbone's last stage)", choices=STAGE2_LAYERS)
    stage2_schedule: str = _setting("step", "stage 2's schedule: step (StepLR, per epoch), warm-up (linear warm-up "
                                    "over --stage2-warmup-epochs, then cosine to ~0, per batch) or cosine (no "
                                    "warm-up)", choices=STAGE2_SCHEDULES)
    stage2_warmup_epochs: float = _setting(1.0, "length of the warm-up of --stage2-schedule warm-up", metavar="E")
    stage2_batchnorm: bool = _setting(False, "BatchNorm trains in stage 2 too, as in the notes (the course keeps it "
                                      "frozen, with its pretrained statistics)")
    step_size: int | None = _setting(None, "StepLR: multiply the rate by --gamma every N epochs (stage 1, and stage 2 "
                                     "with --stage2-schedule step; default: a constant rate)", metavar="N", minimum=1)
    gamma: float = _setting(0.1, "StepLR's factor")
    seed: int = _setting(0, "seed of the head's initial weights, the batch order and the augmentation", minimum=0)

    def __post_init__(self) -> None:
        """A clear error for settings that contradict each other, before any work is done."""
        if self.stage1_features and self.stage1_augment:
            raise ValueError("stage1_augment needs stage1_features=False (--no-stage1-features): cached "
                             "features are computed once, from un-augmented images.")
        if self.stage2_layers not in STAGE2_LAYERS:
            raise ValueError(f"stage2_layers must be one of {', '.join(STAGE2_LAYERS)}, got {self.stage2_layers!r}.")
        if self.stage2_schedule not in STAGE2_SCHEDULES:
            raise ValueError(f"stage2_schedule must be one of {', '.join(STAGE2_SCHEDULES)}, "
                             f"got {self.stage2_schedule!r}.")
        if self.stage2_warmup_epochs < 0 or (self.stage2_schedule == "warm-up"
                                             and self.stage2_warmup_epochs > self.stage2_epochs):
            raise ValueError(f"stage2_warmup_epochs must lie between 0 and stage2_epochs ({self.stage2_epochs}), "
                             f"got {self.stage2_warmup_epochs}.")

    @property
    def head_lr(self) -> float:
        """The head's rate in stage 2 (``stage2_head_lr``, else ``stage2_lr``)."""
        return self.stage2_lr if self.stage2_head_lr is None else self.stage2_head_lr

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
    return optimizer, _step_lr(optimizer, config)


def _step_lr(optimizer: torch.optim.Optimizer, config: TransferConfig) -> Any:
    if config.step_size is None:
        return None  # a constant rate
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)


def last_stage_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters of the backbone's last stage (:func:`~course_utils.models.stages.split_last_stage`),
    BatchNorm excepted."""
    return [p for module in split_last_stage(model).trainable for sub in module.modules()
            if not isinstance(sub, nn.modules.batchnorm._BatchNorm) for p in sub.parameters(recurse=False)]


def stage2_optimizer(
    model: nn.Module,
    stage1_checkpoint: str | Path,
    config: TransferConfig,
    *,
    class_names: list[str] | None = None,
    steps_per_epoch: int | None = None,
) -> Optimizers:
    """Load the best stage-1 weights and optimizer, unfreeze (part of) the backbone, lower the rates.

    The stage-1 optimizer only knew the head's parameters, so it is rebuilt over the head (group
    0, at ``config.head_lr``), its saved state (Adam's running averages) is loaded, and the
    unfrozen backbone joins as group 1 at ``config.stage2_lr``: every layer (``stage2_layers``
    ``"all"``) or the last stage. BatchNorm layers stay frozen unless ``config.stage2_batchnorm``
    (see :func:`course_utils.models.heads.unfreeze`). The scheduler: ``StepLR`` per epoch
    (``"step"``; None without ``config.step_size``), or ``OneCycleLR`` stepped after every batch
    (``"warm-up"``: from a 25th of each group's rate up over ``config.stage2_warmup_epochs``, then
    half a cosine to almost 0; ``"cosine"``: the decay alone), which needs ``steps_per_epoch``.
    Call it with the model on its training device: the optimizer's state follows the parameters.
    """
    state = TrainingState.load(stage1_checkpoint)
    check_compatible(state.to_dict(), model_name=config.model_name, class_names=class_names)
    model.load_state_dict(state.best_weights())
    head = list(head_parameters(model))
    optimizer = torch.optim.Adam(head)
    optimizer.load_state_dict(state.optimizer)  # the head's Adam state from stage 1
    model.requires_grad_(False)  # from stage 1's state, whatever was unfrozen before: the head alone trains
    for p in head:
        p.requires_grad = True
    if config.stage2_layers == "all":
        backbone = unfreeze(model, batchnorm=config.stage2_batchnorm)
    else:
        backbone = last_stage_parameters(model)
        for p in backbone:
            p.requires_grad = True
    for group in optimizer.param_groups:
        group["lr"] = config.head_lr
        group.pop("initial_lr", None)  # let the new scheduler start from the new rate
    optimizer.add_param_group({"params": backbone, "lr": config.stage2_lr})
    if config.stage2_schedule == "step":
        return optimizer, _step_lr(optimizer, config)
    if steps_per_epoch is None:
        raise ValueError(f"stage2_schedule {config.stage2_schedule!r} steps after every batch: pass "
                         "steps_per_epoch=len(train_loader).")
    total = config.stage2_epochs * steps_per_epoch
    if total < 4:
        raise ValueError(f"A per-batch schedule needs at least 4 batches in all, got {total}: train longer or "
                         "use stage2_schedule='step'.")
    # OneCycleLR's rising phase needs two steps at least: "cosine" spends them flat at the rate (div_factor 1)
    warmup = round(config.stage2_warmup_epochs * steps_per_epoch) if config.stage2_schedule == "warm-up" else 2
    warmup = min(max(warmup, 2), total - 2)
    return optimizer, torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[config.head_lr, config.stage2_lr], total_steps=total, pct_start=warmup / total,
        anneal_strategy="cos", cycle_momentum=False,
        div_factor=25.0 if config.stage2_schedule == "warm-up" else 1.0)
