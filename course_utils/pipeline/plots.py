"""Plots of training results: what a run measured, drawn with matplotlib.

The rule for drawings: lesson pictures (tensors, windows, receptive fields) live in
:mod:`course_utils.lessons.pictures`, diagrams of networks in
:mod:`course_utils.lessons.diagrams`, and plots of what training measured here. Each returns
its figure; end the notebook cell with ``plt.show()``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from course_utils.pipeline.history import History

__all__ = ["plot_history"]


def plot_history(history: History, title: str | None = None) -> Figure:
    """Loss, accuracy and learning-rate curves side by side, one point per epoch; returns the figure."""
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc, ax_lr) = plt.subplots(1, 3, figsize=(13, 3.4))
    x = list(range(1, history.epochs + 1))
    ax_loss.plot(x, history.train_loss, "o-", label="train")
    ax_loss.plot(x, history.val_loss, "o-", label="validation")
    ax_loss.set(title="loss", xlabel="epoch")
    ax_acc.plot(x, history.train_acc, "o-", label="train")
    ax_acc.plot(x, history.val_acc, "o-", label="validation")
    if history.best_epoch:
        ax_acc.plot([history.best_epoch], [history.best_acc], "k*", markersize=12, label="best")
    ax_acc.set(title="accuracy", xlabel="epoch")
    ax_lr.step(x, history.lr, where="post", color="tab:green")
    positive = [v for v in history.lr if v > 0]
    if positive and max(positive) / min(positive) >= 10:
        ax_lr.set_yscale("log")
    ax_lr.set(title="learning rate", xlabel="epoch")
    for ax in (ax_loss, ax_acc):
        ax.legend()
    for ax in (ax_loss, ax_acc, ax_lr):
        ax.grid(alpha=0.3)
        if x:
            ax.set_xticks(x if len(x) <= 12 else x[:: math.ceil(len(x) / 12)])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig

