"""The notes' two-stage transfer learning, as small steps and as one function.

Stage 1 (feature extraction): the pretrained backbone is frozen (冻结), only the new head
trains, with Adam and a step learning-rate decay (学习率衰减, ``StepLR``).

Stage 2 (fine-tuning): the best stage-1 checkpoint is loaded (weights *and* optimizer),
the backbone is unfrozen (its BatchNorm layers keep their pretrained statistics), and
training continues with a lower learning rate, so that the pretrained weights are
adjusted rather than destroyed.

One recipe: :class:`TransferConfig` holds its numbers, :func:`train_stage1` and
:func:`train_stage2` are its two stages, and notebook 06, :func:`run_transfer`, the command
line (``python -m course_utils train``, :mod:`course_utils.command.main`) and the benchmark's
course side all call them.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from course_utils.analysis.predictions import predict
from course_utils.data.flowers import FlowerFolder, FlowerSource, flower_datasets, flower_loaders
from course_utils.data.transforms import TransformSettings, eval_transform, train_transform
from course_utils.env import RunContext, current_context
from course_utils.models.build import build_model, head_parameters, preprocessing_for, unfreeze
from course_utils.storage.checkpoints import TrainingState, check_compatible
from course_utils.training.history import History
from course_utils.training.loop import fit
from course_utils.transfer.features import cached_features, fit_head

__all__ = ["TransferConfig", "TransferResult", "checkpoint_extra", "run_transfer", "stage1_optimizer",
           "skip_stage2", "stage2_optimizer", "train_stage1", "train_stage2"]


def checkpoint_extra(model_name: str, train_set: FlowerFolder, settings: TransformSettings) -> dict[str, Any]:
    """What a checkpoint needs beyond weights to be used later: model, classes, preprocessing."""
    return {
        "model_name": model_name,
        "num_classes": len(train_set.classes),
        "class_names": list(train_set.class_names),
        "class_to_idx": dict(train_set.class_to_idx),
        "transform": settings.to_dict(),
    }


Optimizers = tuple[torch.optim.Adam, torch.optim.lr_scheduler.StepLR]


@dataclass
class TransferConfig:
    """The recipe of one transfer-learning run: notebook 06, ``run_transfer``, the command line
    and the benchmark all read these numbers, so the recorded recipe cannot drift between them."""

    model_name: str = "efficientnet_lite0"
    image_size: int = 160
    resize_to: int | None = None  # see TransformSettings.resize
    # Stage 1 on un-augmented images (the eval transform), as on cached features: with a frozen
    # backbone and few epochs, augmentation cost accuracy on the real subset (README, "Flowers-102
    # results"). Stage 2 always trains on augmented images.
    stage1_augment: bool = False
    # Stage 1 on the frozen backbone's features, computed once and cached (course_utils.transfer.features),
    # instead of a full backbone pass over every image in every epoch (the notes' way, False).
    stage1_features: bool = True
    batch_size: int = 32
    stage1_epochs: int = 6
    stage2_epochs: int = 6  # 3 ended below stage 1 on the real subset; 6 (lr / 10 after 4) above it; 0: none
    stage1_lr: float = 3e-3
    stage2_lr: float = 1e-4
    step_size: int = 4
    gamma: float = 0.1
    stage1_patience: int | None = None  # stop stage 1 when validation stops improving for this many epochs
    stage2_batchnorm: bool = False  # BatchNorm trains in stage 2 too, as in the notes (the course keeps it frozen)
    seed: int = 0
    max_per_class: int | dict[str, int] | None = None
    progress: bool = True

    def check(self) -> None:
        """A clear error for settings that contradict each other, before any work is done."""
        if self.stage1_features and self.stage1_augment:
            raise ValueError("stage1_augment=True needs stage1_features=False: cached features are computed "
                             "once, from un-augmented images (course_utils.transfer.features can cache "
                             "augmented views).")

    def transform_settings(self) -> TransformSettings:
        """Image size, resize and the normalisation the pretrained weights expect."""
        mean, std = preprocessing_for(self.model_name)  # three numbers each
        return TransformSettings(image_size=self.image_size, mean=mean, std=std, resize_to=self.resize_to)


def stage1_optimizer(model: nn.Module, config: TransferConfig | None = None) -> Optimizers:
    """Adam on the trainable parameters (the head, when the backbone is frozen) and StepLR."""
    config = config or TransferConfig()
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ValueError("No parameter of this model requires a gradient: nothing would train.")
    optimizer = torch.optim.Adam(trainable, lr=config.stage1_lr)
    return optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)


def stage2_optimizer(
    model: nn.Module,
    stage1_checkpoint: str | Path,
    config: TransferConfig | None = None,
    *,
    class_names: list[str] | None = None,
) -> Optimizers:
    """Load the best stage-1 weights and optimizer, unfreeze the backbone, lower the learning rate.

    The stage-1 optimizer only knew the head's parameters, so it is rebuilt over the head,
    its saved state (Adam's running averages) is loaded, and the unfrozen backbone joins
    as a second parameter group. Both groups then use ``config.stage2_lr``. BatchNorm layers
    stay frozen (see :func:`course_utils.models.build.unfreeze`). Returns (optimizer, StepLR).
    """
    config = config or TransferConfig()
    state = TrainingState.load(stage1_checkpoint)
    check_compatible(state.to_dict(), model_name=config.model_name, class_names=class_names)
    model.load_state_dict(state.state_dict or state.last_state_dict)  # the best epoch's weights
    optimizer = torch.optim.Adam(list(head_parameters(model)))
    optimizer.load_state_dict(state.optimizer)  # the head's Adam state from stage 1
    backbone = unfreeze(model, batchnorm=config.stage2_batchnorm)
    for group in optimizer.param_groups:
        group["lr"] = config.stage2_lr
        group.pop("initial_lr", None)  # let the new scheduler start from the new rate
    optimizer.add_param_group({"params": backbone, "lr": config.stage2_lr})
    return optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)


def train_stage1(model: nn.Module, sets: dict[str, FlowerFolder], checkpoint: str | Path,
                 config: TransferConfig | None = None, *, context: RunContext | None = None,
                 extra: dict[str, Any] | None = None, cache_dir: str | Path | None = None,
                 loaders: dict[str, Any] | None = None, resume: bool = False) -> History:
    """Stage 1: the new head trains on the frozen backbone; the best epoch is saved to ``checkpoint``.

    ``sets["train"]`` and ``sets["valid"]`` are the data sets to train and validate on (give the
    training set the evaluation transform unless ``config.stage1_augment``). With
    ``config.stage1_features`` the backbone runs once and the head trains on the cached
    features (:mod:`course_utils.transfer.features`); otherwise every epoch runs the whole
    model over the images, as the notes do: on ``loaders`` if given (the command's sharded
    loaders under ``torchrun``), else on ``flower_loaders(sets)``; ``resume`` continues that
    route's checkpoint. (Stage 1 on features takes seconds once the features are cached: it
    is run again rather than resumed.)
    """
    config = config or TransferConfig()
    config.check()
    context = context or current_context()
    optimizer, scheduler = stage1_optimizer(model, config)
    common: dict[str, Any] = dict(epochs=config.stage1_epochs, optimizer=optimizer, scheduler=scheduler, criterion=nn.NLLLoss(),
                  context=context, checkpoint=checkpoint, checkpoint_extra=extra, seed=config.seed,
                  patience=config.stage1_patience, progress=config.progress)
    if config.stage1_features:
        features = {split: cached_features(model, sets[split], batch_size=config.batch_size, seed=config.seed,
                                           context=context, cache_dir=cache_dir, progress=config.progress,
                                           desc=f"{split} features")
                    for split in ("train", "valid")}
        return fit_head(model, features["train"], features["valid"], batch_size=config.batch_size, **common)
    loaders = loaders or flower_loaders(sets, batch_size=config.batch_size, seed=config.seed, context=context)
    return fit(model, loaders["train"], loaders["valid"], resume=resume, **common)


def train_stage2(model: nn.Module, loaders: dict[str, Any], stage1_checkpoint: str | Path, checkpoint: str | Path,
                 config: TransferConfig | None = None, *, context: RunContext | None = None,
                 extra: dict[str, Any] | None = None, class_names: list[str] | None = None,
                 compile: bool = False, resume: bool = False) -> History:
    """Stage 2: from the best stage-1 checkpoint, everything but BatchNorm trains at a lower rate.

    ``resume`` continues from ``checkpoint`` when it holds finished stage-2 epochs.
    """
    config = config or TransferConfig()
    context = context or current_context()
    model.to(context.device)  # before the optimizer state is loaded: it follows the parameters' device
    optimizer, scheduler = stage2_optimizer(model, stage1_checkpoint, config, class_names=class_names)
    return fit(model, loaders["train"], loaders["valid"], epochs=config.stage2_epochs, optimizer=optimizer,
               scheduler=scheduler, criterion=nn.NLLLoss(), context=context, compile=compile,
               checkpoint=checkpoint, checkpoint_extra=extra, resume=resume, seed=config.seed,
               progress=config.progress)


def skip_stage2(model: nn.Module, stage1_checkpoint: str | Path, *, context: RunContext | None = None) -> History:
    """``stage2_epochs=0``: stage 1's best epoch is the result. Loads it into ``model`` (on the
    context's device) and returns an empty stage-2 history."""
    state = TrainingState.load(stage1_checkpoint)
    model.load_state_dict(state.state_dict or state.last_state_dict)
    model.to((context or current_context()).device)
    return History()


@dataclass
class TransferResult:
    """What a run produced: both histories, test metrics (if there is a test split), times."""

    stage1: History
    stage2: History
    model: nn.Module
    class_names: list[str]
    settings: TransformSettings
    test_accuracy: float | None = None
    test_top5: float | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def run_transfer(source: FlowerSource | str | Path, out_dir: str | Path,
                 config: TransferConfig | None = None, *, context: RunContext | None = None) -> TransferResult:
    """Stage 1, stage 2 and a test evaluation, with checkpoints ``stage1.pt``, ``stage2.pt`` in ``out_dir``."""
    config = config or TransferConfig()
    config.check()
    context = context or current_context()
    out_dir = Path(out_dir)
    settings = config.transform_settings()
    sets = flower_datasets(source, train_transform(settings), eval_transform(settings),
                           max_per_class=config.max_per_class)
    loaders = flower_loaders(sets, batch_size=config.batch_size, seed=config.seed, context=context)
    stage1_sets = dict(sets)
    if not config.stage1_augment:
        stage1_sets["train"] = copy.copy(sets["train"])  # the same training images, un-augmented (no second scan)
        stage1_sets["train"].transform = eval_transform(settings)
    train_set = sets["train"]
    extra = checkpoint_extra(config.model_name, train_set, settings)
    seconds = {}

    torch.manual_seed(config.seed)
    model = build_model(config.model_name, len(train_set.classes), feature_extract=True)
    started = time.perf_counter()
    stage1 = train_stage1(model, stage1_sets, out_dir / "stage1.pt", config, context=context, extra=extra)
    seconds["stage1"] = time.perf_counter() - started
    started = time.perf_counter()
    if config.stage2_epochs:
        stage2 = train_stage2(model, loaders, out_dir / "stage1.pt", out_dir / "stage2.pt", config, context=context,
                              extra=extra, class_names=train_set.class_names)
    else:
        stage2 = skip_stage2(model, out_dir / "stage1.pt", context=context)
    seconds["stage2"] = time.perf_counter() - started

    result = TransferResult(stage1, stage2, model, list(train_set.class_names), settings, seconds=seconds)
    if "test" in loaders and len(sets["test"]):
        started = time.perf_counter()
        predictions = predict(model, loaders["test"], context=context)
        result.test_accuracy, result.test_top5 = predictions.accuracy(), predictions.topk_accuracy(5)
        seconds["test"] = time.perf_counter() - started
    return result

