"""The learning-rate range test: one short run with a rate that grows exponentially, loss against rate.

Which learning rate (学习率)? Too small and the loss hardly moves; too large and it explodes.
The range test (Smith, 2017) finds the window in between with one short run instead of a
sweep of full runs: start at a tiny rate, multiply it by the same factor after every batch
(so the rates are evenly spaced on a log axis), record the loss, and stop when the loss has
clearly blown up. Plotted against the rate (log axis), the loss is flat, then falls, then
turns and climbs. The suggestion this module makes is the rate at the lowest (smoothed) loss
divided by 3: the lowest point sits at the edge of stability, which for a quadratic loss is
twice the best rate (the unit tests measure 1.6-2.2 times), so a third of it lands a little
below the best rate. (fastai's older rule, a tenth of it, proved too timid for the course's
short runs.) The steepest point of the curve is recorded too.

The model and optimizer are put back as they were afterwards: the test only looks.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from course_utils.context import RunContext
from course_utils.models.forward import forward, place

__all__ = ["RangeTest", "lr_range_test"]


@dataclass(frozen=True)
class RangeTest:
    """What :func:`lr_range_test` measured: one rate and one loss per batch."""

    lrs: list[float]
    losses: list[float]
    """The raw loss of each batch."""
    smoothed: list[float]
    """An exponential moving average of ``losses`` (bias-corrected), what the suggestion reads."""
    lr_at_min: float
    """The rate at the lowest smoothed loss."""
    steepest: float
    """The rate where the smoothed loss falls fastest per factor of rate (before its minimum)."""
    diverged: bool
    """True when the run stopped early because the loss blew up."""

    @property
    def suggestion(self) -> float:
        """The suggested learning rate: ``lr_at_min / 3`` (see the module docstring)."""
        return self.lr_at_min / 3

    def plot(self, ax=None, *, title: str | None = None):
        """Loss against rate on a log axis, with the suggestion marked; returns the axes."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(5, 3))[1]
        ax.plot(self.lrs, self.losses, color="0.75", lw=0.8, label="loss of each batch")
        ax.plot(self.lrs, self.smoothed, color="tab:blue", label="smoothed")
        ax.axvline(self.lr_at_min, color="tab:red", ls=":", label=f"lowest: {self.lr_at_min:.2g}")
        ax.axvline(self.suggestion, color="tab:green", ls="--", label=f"suggested: {self.suggestion:.2g}")
        ax.set_xscale("log")
        top = max(self.smoothed[0], min(self.smoothed)) * 1.5
        ax.set_ylim(min(self.losses) * 0.9 if min(self.losses) > 0 else None, top)
        ax.set(xlabel="learning rate", ylabel="training loss", title=title or "learning-rate range test")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        return ax


def lr_range_test(
    model: nn.Module,
    loader: Iterable,
    optimizer: torch.optim.Optimizer,
    *,
    criterion: nn.Module | None = None,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    steps: int = 100,
    beta: float = 0.9,
    diverge: float = 4.0,
    context: RunContext,
    progress: bool = True,
) -> RangeTest:
    """Train ``model`` for ``steps`` batches with a rate growing from ``start_lr`` to ``end_lr``.

    - ``optimizer``: built on ``model``'s parameters (any rate: it is overwritten every batch).
    - ``criterion``: defaults to ``nn.CrossEntropyLoss()``; ``loader`` yields ``(inputs, targets)``
      and is cycled if it has fewer than ``steps`` batches.
    - ``beta``: smoothing of the loss (exponential moving average); ``diverge``: stop when the
      smoothed loss exceeds ``diverge`` times its lowest value (or is not finite).
    - ``context``: the device, layout and precision the batches run at, as in ``fit``.

    The weights of ``model`` and the state of ``optimizer`` are restored at the end.
    """
    if not (0 < start_lr < end_lr):
        raise ValueError(f"Need 0 < start_lr < end_lr, got start_lr={start_lr} and end_lr={end_lr}.")
    if steps < 5:
        raise ValueError(f"steps must be at least 5 to draw a curve, got {steps}.")
    if not 0 <= beta < 1:
        raise ValueError(f"beta (smoothing) must be in [0, 1), got {beta}.")
    criterion = criterion or nn.CrossEntropyLoss()
    saved_model = copy.deepcopy(model.state_dict())
    saved_optimizer = copy.deepcopy(optimizer.state_dict())
    home = next(model.parameters()).device
    layout = place(model, context)
    factor = (end_lr / start_lr) ** (1 / (steps - 1))
    lrs: list[float] = []
    losses: list[float] = []
    smoothed: list[float] = []
    average, best, diverged = 0.0, math.inf, False
    model.train()
    try:
        with context.progress_bar(total=steps, desc="range test", leave=False, disable=not progress) as bar:
            while len(lrs) < steps and not diverged:
                batches = 0
                for inputs, targets in loader:
                    batches += 1
                    lr = start_lr * factor ** len(lrs)
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                    optimizer.zero_grad(set_to_none=True)
                    outputs = forward(model, inputs, context, layout)
                    with context.autocast():
                        loss = criterion(outputs, targets.to(context.device))
                    value = float(loss.detach())
                    if not math.isfinite(value):
                        diverged = True
                        break
                    loss.backward()
                    optimizer.step()
                    average = beta * average + (1 - beta) * value
                    smooth = average / (1 - beta ** (len(lrs) + 1))
                    lrs.append(lr)
                    losses.append(value)
                    smoothed.append(smooth)
                    bar.update(1)
                    best = min(best, smooth)
                    if smooth > diverge * best and len(lrs) > 5:
                        diverged = True
                        break
                    if len(lrs) >= steps:
                        break
                if batches == 0:
                    raise ValueError("The loader yielded no batches: is the data set empty?")
    finally:
        model.load_state_dict(saved_model)
        optimizer.load_state_dict(saved_optimizer)
        model.to(home)
    if len(lrs) < 3:
        raise RuntimeError(f"The loss was not finite after {len(lrs)} batch(es): lower start_lr.")
    lowest = min(range(len(smoothed)), key=smoothed.__getitem__)
    slopes = [(smoothed[i + 1] - smoothed[i]) / math.log(lrs[i + 1] / lrs[i]) for i in range(max(lowest, 1))]
    steepest = lrs[min(range(len(slopes)), key=slopes.__getitem__)] if slopes else lrs[0]
    return RangeTest(lrs=lrs, losses=losses, smoothed=smoothed, lr_at_min=lrs[lowest], steepest=steepest,
                     diverged=diverged)
