"""A run's checkpoint, written and read back: the one place a :class:`TrainingState` is made.

``fit`` saves one after every epoch and ``fit_head`` (stage 1 on cached features) one at its
end; both call :func:`training_state`, so a checkpoint has the same keys whichever way it was
trained, random generators included. :func:`resume` reads one back into a model, its optimizer,
scheduler and gradient scaler, after checking it was made for the same model and classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from course_utils.storage.checkpoints import TrainingState, check_compatible
from course_utils.training.history import History
from course_utils.training.randomness import rng_state, set_rng_state

__all__ = ["Resumed", "check_resumable", "load_weights", "resume", "training_state"]


def training_state(*, epoch: int, epochs: int, history: History, best_state: Mapping[str, Any] | None,
                   last_state: Mapping[str, Any], optimizer: torch.optim.Optimizer, scheduler: Any = None,
                   scaler: Any = None, seed: int | None = None, extra: Mapping[str, Any] | None = None,
                   stage1: Mapping[str, Any] | None = None) -> TrainingState:
    """Everything to continue a run exactly (and to use its best model), as a :class:`TrainingState`.

    The random generators are recorded at the moment of the call (the end of an epoch).
    """
    return TrainingState(
        epoch=int(epoch), epochs=int(epochs), state_dict=dict(best_state) if best_state is not None else None,
        best_acc=float(history.best_acc), best_epoch=int(history.best_epoch), last_state_dict=dict(last_state),
        optimizer=optimizer.state_dict(), history=history.to_dict(),
        scheduler=scheduler.state_dict() if scheduler is not None else None,
        scaler=scaler.state_dict() if scaler is not None else None, seed=seed, rng=rng_state(),
        extra=dict(extra or {}), stage1=dict(stage1) if stage1 is not None else None,
    )


def check_resumable(state: TrainingState, extra: Mapping[str, Any]) -> None:
    """Refuse to resume a checkpoint made for another model or other classes."""
    wanted = {k: extra[k] for k in ("model_name", "num_classes", "class_names") if k in extra}
    if wanted:
        check_compatible(state.to_dict(), **wanted)


def load_weights(model: nn.Module, weights: Mapping[str, torch.Tensor], path: str | Path) -> None:
    """``model.load_state_dict(weights)``, with an error that says what to do when they do not fit."""
    try:
        model.load_state_dict(weights)
    except RuntimeError as error:  # PyTorch lists the missing, unexpected and mis-shaped tensors
        details = str(error).split(":", 1)[-1].strip()
        raise ValueError(
            f"{path} holds weights for another model (another architecture or number of classes): "
            f"{details} Resume only with the model it was trained with, or pass resume=False to "
            "start afresh (the file will be overwritten)."
        ) from error


@dataclass
class Resumed:
    """What a checkpoint gave back: the history so far, the best weights so far, the next epoch."""

    history: History
    best_state: dict[str, torch.Tensor] | None
    start: int


def resume(checkpoint: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer, *,
           scheduler: Any = None, scaler: Any = None, extra: Mapping[str, Any]) -> Resumed:
    """Load ``checkpoint``'s last epoch into the model, optimizer, scheduler and scaler; restore the
    random generators as they were when it was saved."""
    state = TrainingState.load(checkpoint)
    check_resumable(state, extra)
    load_weights(model, state.last_state_dict, checkpoint)
    optimizer.load_state_dict(state.optimizer)
    if scheduler is not None and state.scheduler is not None:
        scheduler.load_state_dict(state.scheduler)
    if scaler is not None and state.scaler is not None:
        scaler.load_state_dict(state.scaler)
    set_rng_state(state.rng)
    return Resumed(History.from_dict(state.history), state.state_dict, int(state.epoch))
