"""Optimizers by name and learning-rate schedules, built from ``torch.optim`` (nothing re-implemented).

The notes build one optimizer (Adam) with one schedule (``StepLR``). To compare choices, a
notebook needs to build many by name at a given rate:

- :func:`make_optimizer`: ``"sgd"``, ``"momentum"`` (SGD with momentum 0.9), ``"nesterov"``,
  ``"rmsprop"``, ``"adam"``, ``"adamw"``.
- :func:`make_schedule`: ``"constant"``, ``"step"`` (the notes' ``StepLR``), ``"cosine"``,
  ``"warmup-cosine"`` (a linear warm-up, then cosine; ``SequentialLR``) and ``"one-cycle"``
  (``OneCycleLR``, which warms up by itself and steps after every batch; the course's ``fit``
  knows that).
- :func:`schedule_rates`: the rate of each step of a schedule, without training.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim import lr_scheduler

__all__ = ["OPTIMIZERS", "SCHEDULES", "make_optimizer", "make_schedule", "schedule_rates"]

OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "warmup-cosine", "one-cycle")


def make_optimizer(name: str, params: Iterable, lr: float, *, weight_decay: float | None = None) -> torch.optim.Optimizer:
    """A ``torch.optim`` optimizer by name (see :data:`OPTIMIZERS`) at rate ``lr``; every other
    setting at PyTorch's default.

    ``weight_decay``: None (the default) keeps each optimizer's own default, which is 0 for all
    but ``"adamw"``: ``torch.optim.AdamW`` decays by 0.01 unless told otherwise. A number sets it
    for any optimizer (``0.0``: no decay, AdamW included). It is L2 regularisation added to the
    gradient for all but ``"adamw"``, where it is decoupled (the weights shrink by
    ``lr · weight_decay`` each step, apart from the adaptive scaling): the difference notebook 07
    measures.
    """
    if not lr > 0:
        raise ValueError(f"The learning rate must be positive, got {lr}.")
    if weight_decay is not None and not weight_decay >= 0:
        raise ValueError(f"weight_decay must be 0 or more (None: PyTorch's default), got {weight_decay}.")
    decay: dict[str, Any] = {} if weight_decay is None else {"weight_decay": weight_decay}
    key = name.lower()
    if key == "sgd":
        return torch.optim.SGD(params, lr=lr, **decay)
    if key == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, **decay)
    if key == "nesterov":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, **decay)
    if key == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, **decay)
    if key == "adam":
        return torch.optim.Adam(params, lr=lr, **decay)
    if key == "adamw":
        return torch.optim.AdamW(params, lr=lr, **decay)
    raise ValueError(f"Unknown optimizer {name!r}; choose one of {OPTIMIZERS}.")


def make_schedule(
    name: str,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    steps_per_epoch: int | None = None,
    warmup_epochs: int = 1,
    step_size: int | None = None,
    gamma: float = 0.1,
):
    """A learning-rate schedule by name (see :data:`SCHEDULES`) over ``epochs`` epochs; None for ``"constant"``.

    The peak rate is the optimizer's rate. ``"step"`` divides it by 10 (``gamma``) every
    ``step_size`` epochs (default: two thirds of the run, once). ``"cosine"`` falls from the
    rate to 0 along half a cosine; ``"warmup-cosine"`` first rises linearly over
    ``warmup_epochs`` from a tenth of the rate. ``"one-cycle"`` rises over the first 30 % of the
    batches from rate/25, then falls to almost 0; it needs ``steps_per_epoch``.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}.")
    if name == "constant":
        return None
    if name == "step":
        return lr_scheduler.StepLR(optimizer, step_size=step_size or max(1, (2 * epochs) // 3), gamma=gamma)
    if name == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    if name == "warmup-cosine":
        if not 0 < warmup_epochs < epochs:
            raise ValueError(f"warmup_epochs must be between 1 and epochs - 1 = {epochs - 1}, got {warmup_epochs}.")
        warmup = lr_scheduler.LinearLR(optimizer, start_factor=0.1, end_factor=1.0, total_iters=warmup_epochs)
        cosine = lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs - warmup_epochs)
        return lr_scheduler.SequentialLR(optimizer, [warmup, cosine], milestones=[warmup_epochs])
    if name == "one-cycle":
        if not steps_per_epoch:
            raise ValueError("'one-cycle' steps after every batch: pass steps_per_epoch=len(train_loader).")
        peak = optimizer.param_groups[0]["lr"]
        return lr_scheduler.OneCycleLR(optimizer, max_lr=peak, epochs=epochs, steps_per_epoch=steps_per_epoch)
    raise ValueError(f"Unknown schedule {name!r}; choose one of {SCHEDULES}.")


def schedule_rates(build: Callable[[torch.optim.Optimizer], Any], steps: int, *, lr: float = 1.0) -> list[float]:
    """The learning rate in force at each of ``steps`` steps of the schedule that ``build(optimizer)`` returns.

    A throw-away SGD optimizer on one parameter at rate ``lr`` is scheduled; nothing trains.
    ``build`` may return None (a constant rate).
    """
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=lr)
    scheduler = build(optimizer)
    rates = []
    for _ in range(steps):
        rates.append(float(optimizer.param_groups[0]["lr"]))
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return rates
