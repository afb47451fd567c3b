"""The small steps of :func:`course_utils.training.loop.fit`: argument checks, batches, losses.

Kept apart so that ``fit`` reads as the loop it is: check the arguments
(:func:`check_fit_arguments`), unpack each batch (:func:`unpack_batch`), compute the logits and
the loss (:func:`logits_and_loss`), keep a CPU copy of the best weights (:func:`cpu_copy`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

from course_utils.arguments import require_int

__all__ = ["batches_in", "check_fit_arguments", "cpu_copy", "logits_and_loss", "unpack_batch"]


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


def batches_in(loader: Iterable) -> int | None:
    """How many batches ``loader`` yields per pass, or None when it cannot say."""
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:
        return None


def unpack_batch(batch: Any) -> tuple[Any, torch.Tensor]:
    """``(inputs, targets)`` of one batch, or an error saying what a batch must be."""
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    raise ValueError(
        f"Each batch must be a pair (inputs, targets), as a DataLoader over an image data set "
        f"yields; got a {type(batch).__name__}"
        + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else "") + "."
    )


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
