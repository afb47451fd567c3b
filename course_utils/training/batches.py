"""The small steps of :func:`course_utils.training.loop.fit`: argument checks, batches, losses.

Kept apart so that ``fit`` reads as the loop it is: check the arguments
(:func:`check_fit_arguments`), unpack each batch (:func:`unpack_batch`) and move it to the
device (:func:`to_device`), compute the logits and the loss (:func:`logits_and_loss`), keep a
CPU copy of the best weights (:func:`cpu_copy`), and on resume check and load a checkpoint
(:func:`check_resumable`, :func:`load_weights`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from course_utils.arguments import require_int
from course_utils.storage.checkpoints import TrainingState, check_compatible

__all__ = ["check_fit_arguments", "check_resumable", "cpu_copy", "load_weights", "logits_and_loss",
           "to_device", "unpack_batch"]


def check_fit_arguments(model: Any, train_loader: Any, val_loader: Any, epochs: Any, optimizer: Any,
                        checkpoint: Any, resume: bool) -> None:
    """A clear error for each argument of ``fit`` that cannot work, before any training."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    for name, loader in (("train_loader", train_loader), ("val_loader", val_loader)):
        if loader is None or not hasattr(loader, "__iter__"):
            raise TypeError(f"{name} must be a DataLoader (or any iterable of (inputs, targets) batches), got {loader!r}.")
    require_int("epochs", epochs)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer must be a torch.optim optimizer, e.g. torch.optim.SGD(model.parameters(), lr=0.01); "
            f"got {type(optimizer).__name__}."
        )
    model_params = {id(p) for p in model.parameters()}
    optimized = [p for group in optimizer.param_groups for p in group["params"]]
    if not any(id(p) in model_params for p in optimized):
        raise ValueError(
            "The optimizer holds none of this model's parameters, so training would change nothing. "
            "Create the optimizer from this model after building it: optimizer = "
            "torch.optim.SGD(model.parameters(), lr=...)."
        )
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=<path of the checkpoint to continue from>.")


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


def unpack_batch(batch: Any) -> tuple[Any, torch.Tensor]:
    """``(inputs, targets)`` of one batch, or an error saying what a batch must be."""
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    raise ValueError(
        f"Each batch must be a pair (inputs, targets), as a DataLoader over an image data set "
        f"yields; got a {type(batch).__name__}"
        + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else "") + "."
    )


def to_device(inputs: Any, device: torch.device, channels_last: bool) -> Any:
    """Inputs on ``device`` (non-blocking copies; 4-D images channels-last if asked)."""
    if isinstance(inputs, torch.Tensor):
        if channels_last and inputs.dim() == 4:
            return inputs.to(device, non_blocking=True, memory_format=torch.channels_last)
        return inputs.to(device, non_blocking=True)
    if isinstance(inputs, (tuple, list)):
        return type(inputs)(to_device(x, device, channels_last) for x in inputs)
    raise TypeError(f"Inputs must be a tensor (or a tuple of tensors), got {type(inputs).__name__}.")


def logits_and_loss(criterion: Callable, outputs: Any, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss and the logits used for accuracy.

    Inception-v3 returns ``(logits, aux_logits)`` in training mode: its auxiliary classifier
    counts 0.4 times, as in the notes (``loss1 + 0.4 * loss2``).
    """
    aux = getattr(outputs, "aux_logits", None)
    logits = getattr(outputs, "logits", outputs)
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"The model returned a {type(outputs).__name__}; fit expects a tensor of class scores.")
    if logits.dim() != 2:
        raise ValueError(
            f"The model's output has shape {tuple(logits.shape)}; fit trains classifiers whose output "
            "is (batch, classes). Did you forget to flatten before the last Linear layer?"
        )
    loss = criterion(logits, targets)
    if aux is not None:
        loss = loss + 0.4 * criterion(aux, targets)
    return logits, loss


def cpu_copy(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A detached copy of a state dict on the CPU (the best epoch's weights, kept aside)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}
