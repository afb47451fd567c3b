"""The recipe's two stages, each one call: train the head (stage 1), then fine-tune (stage 2).

:func:`train_stage1` trains the new head on the frozen backbone, on cached features
(:mod:`course_utils.transfer.features`) or the notes' way on images; :func:`train_stage2` loads
its best checkpoint, unfreezes the backbone and fine-tunes at a lower rate
(:func:`~course_utils.transfer.recipe.stage2_optimizer`). The orchestrator
(:func:`course_utils.transfer.run.run_transfer`) calls them in order; notebook 06 calls them one
cell at a time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from course_utils.context import RunContext
from course_utils.data.flowers import FlowerFolder, flower_loaders
from course_utils.env import shown_path
from course_utils.storage.checkpoints import TrainingState
from course_utils.training.history import History
from course_utils.training.loop import fit
from course_utils.transfer.features import cached_features, fit_head
from course_utils.transfer.recipe import TransferConfig, stage1_optimizer, stage2_optimizer

__all__ = ["finished", "skip_stage2", "train_stage1", "train_stage2"]


def finished(checkpoint: str | Path, epochs: int, patience: int | None = None) -> bool:
    """Whether ``checkpoint`` holds a finished run: every epoch done, or stopped early by ``patience``."""
    path = Path(checkpoint)
    if not path.is_file():
        return False
    state = TrainingState.load(path)
    if int(state.epoch) >= epochs:
        return True
    history = History.from_dict(state.history)
    return patience is not None and history.epochs > 0 and history.epochs - history.best_epoch >= patience


def train_stage1(model: nn.Module, sets: dict[str, FlowerFolder], checkpoint: str | Path, config: TransferConfig,
                 *, context: RunContext, extra: dict[str, Any] | None = None, cache_dir: str | Path | None = None,
                 loaders: dict[str, Any] | None = None, resume: bool = False) -> History:
    """Stage 1: the new head trains on the frozen backbone; the best epoch is saved to ``checkpoint``.

    ``sets["train"]`` and ``sets["valid"]`` are the data sets to train and validate on (give the
    training set the evaluation transform unless ``config.stage1_augment``). With
    ``config.stage1_features`` the backbone runs once and the head trains on the cached
    features; otherwise every epoch runs the whole model over the images, as the notes do: on
    ``loaders`` if given (the sharded loaders of a ``torchrun`` job), else on
    ``flower_loaders(sets)``. ``resume``: a finished ``checkpoint`` (every epoch, or stopped by
    ``config.stage1_patience``) is loaded instead of trained again, on either route; an unfinished
    one continues on images (on features stage 1 takes seconds once they are cached: it starts over).
    """
    if resume and finished(checkpoint, config.stage1_epochs, config.stage1_patience):
        state = TrainingState.load(checkpoint)
        model.load_state_dict(state.best_weights())
        if context.is_main:
            print(f"stage 1: finished in {shown_path(checkpoint)}, not trained again", flush=True)
        return History.from_dict(state.history)
    optimizer, scheduler = stage1_optimizer(model, config)
    common: dict[str, Any] = dict(epochs=config.stage1_epochs, optimizer=optimizer, scheduler=scheduler,
                                  criterion=nn.NLLLoss(), context=context, checkpoint=checkpoint,
                                  checkpoint_extra=extra, seed=config.seed, patience=config.stage1_patience)
    if config.stage1_features:
        features = {split: cached_features(model, sets[split], batch_size=config.batch_size, seed=config.seed,
                                           context=context, cache_dir=cache_dir, desc=f"{split} features")
                    for split in ("train", "valid")}
        return fit_head(model, features["train"], features["valid"], batch_size=config.batch_size, **common)
    loaders = loaders or flower_loaders(sets, batch_size=config.batch_size, seed=config.seed, context=context)
    return fit(model, loaders["train"], loaders["valid"], resume=resume, **common)


def train_stage2(model: nn.Module, loaders: dict[str, Any], stage1_checkpoint: str | Path, checkpoint: str | Path,
                 config: TransferConfig, *, context: RunContext, extra: dict[str, Any] | None = None,
                 class_names: list[str] | None = None, compile: bool = False, resume: bool = False) -> History:
    """Stage 2: from the best stage-1 checkpoint, the backbone (all of it but BatchNorm, or its last stage)
    trains with the head at lower rates, as ``config`` says (:func:`~course_utils.transfer.recipe.stage2_optimizer`).

    ``resume`` continues from ``checkpoint`` when it holds finished stage-2 epochs.
    """
    model.to(context.device)  # before the optimizer state is loaded: it follows the parameters' device
    optimizer, scheduler = stage2_optimizer(model, stage1_checkpoint, config, class_names=class_names,
                                            steps_per_epoch=len(loaders["train"]))
    return fit(model, loaders["train"], loaders["valid"], epochs=config.stage2_epochs, optimizer=optimizer,
               scheduler=scheduler, criterion=nn.NLLLoss(), context=context, compile=compile,
               checkpoint=checkpoint, checkpoint_extra=extra, resume=resume, seed=config.seed)


def skip_stage2(model: nn.Module, stage1_checkpoint: str | Path, *, context: RunContext) -> History:
    """``stage2_epochs=0``: stage 1's best epoch is the result. Loads it into ``model`` (on the
    context's device) and returns an empty stage-2 history."""
    model.load_state_dict(TrainingState.load(stage1_checkpoint).best_weights())
    model.to(context.device)
    return History()
