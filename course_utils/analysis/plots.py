"""Plots of training results: what a run measured, drawn with matplotlib.

The rule for drawings: lesson pictures (tensors, windows, receptive fields) live in
:mod:`course_utils.lessons.pictures`, diagrams of networks in
:mod:`course_utils.lessons.diagrams`, and plots of what training measured here. Each returns
its figure; end the notebook cell with ``plt.show()``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import matplotlib.pyplot as plt
import torch
from matplotlib.ticker import NullFormatter

from course_utils.analysis.predictions import Predictions, right_and_wrong_pairs
from course_utils.data.transforms import TransformSettings, denormalize

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Curves", "plot_history", "show_batch", "show_right_and_wrong", "show_top5"]


class Curves(Protocol):
    """What :func:`plot_history` reads (a :class:`~course_utils.training.history.History` has it all)."""

    train_loss: list[float]
    train_acc: list[float]
    val_loss: list[float]
    val_acc: list[float]
    lr: list[float]
    best_acc: float
    best_epoch: int

    @property
    def epochs(self) -> int: ...


def plot_history(history: Curves, title: str | None = None) -> Figure:
    """Loss, accuracy and learning-rate curves side by side, one point per epoch; returns the figure."""
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
    if positive and len(set(positive)) <= 4:  # a constant or stepped rate: its values as the only ticks
        ax_lr.set_yticks(sorted(set(positive)), [f"{v:g}" for v in sorted(set(positive))])
        ax_lr.yaxis.set_minor_formatter(NullFormatter())
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


def show_batch(images: torch.Tensor, labels: torch.Tensor, class_names: Sequence[str],
               settings: TransformSettings | None = None, *, columns: int = 4,
               title: str | None = None) -> Figure:
    """Show a batch of normalised tensors as pictures, titled with their class names."""
    settings = settings or TransformSettings()
    n = len(images)
    rows = (n + columns - 1) // columns
    # constrained layout keeps each row's titles clear of the pictures above (tight_layout does not
    # reserve room for titles of axes that are switched off)
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.8 * rows), squeeze=False, layout="constrained")
    pictures = denormalize(images.detach().cpu().float(), settings.mean, settings.std)
    for ax, picture, label in zip(axes.flat, pictures, labels.tolist(), strict=False):
        ax.imshow(picture.permute(1, 2, 0).numpy())
        ax.set_title(class_names[label], fontsize=9)
    for ax in axes.flat:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    return fig


def show_right_and_wrong(dataset, predictions: Predictions, class_names: Sequence[str], *,
                         settings: TransformSettings | None = None, n: int = 4, seed: int = 0) -> Figure:
    """Each wrong prediction (red) next to a right one (green) of the class it was mistaken for.

    ``dataset`` is the one ``predictions`` were made on, in the same order (an unshuffled
    loader); ``settings`` undoes the normalisation for display. Titles give the prediction and,
    in brackets, the true name.
    """
    settings = settings or TransformSettings()
    pairs = right_and_wrong_pairs(predictions, n, seed)
    if not pairs:
        raise ValueError("Fewer than two correctly predicted images and no usable mistake: nothing to "
                         "show. Train the model first, or pass a larger data set.")
    columns = 4
    rows = (2 * len(pairs) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(2.4 * columns, 3.0 * rows), squeeze=False)
    shown = [i for pair in pairs for i in pair]
    for ax, i in zip(axes.flat, shown, strict=False):
        image = denormalize(dataset[i][0].unsqueeze(0), settings.mean, settings.std)[0]
        p, t = int(predictions.predicted[i]), int(predictions.targets[i])
        ax.imshow(image.permute(1, 2, 0).clamp(0, 1).numpy())
        ax.set_title(f"{_wrapped(class_names[p])}\n({_wrapped(class_names[t])})",
                     color="green" if p == t else "red", fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig


def show_top5(dataset, predictions: Predictions, class_names: Sequence[str], indices: Sequence[int], *,
              settings: TransformSettings | None = None) -> Figure:
    """For each image of ``indices``: the photo, and a bar chart of its five most probable classes.

    The true class's bar is green (absent when the true class is not among the five), the others
    grey. ``predictions`` must come from ``predict(..., k=5)`` on ``dataset`` in order.
    """
    settings = settings or TransformSettings()
    fig, axes = plt.subplots(len(indices), 2, figsize=(7.5, 1.9 * len(indices)), squeeze=False,
                             gridspec_kw={"width_ratios": (1, 2.4)})
    for (photo_ax, bar_ax), i in zip(axes, indices, strict=True):
        image = denormalize(dataset[i][0].unsqueeze(0), settings.mean, settings.std)[0]
        photo_ax.imshow(image.permute(1, 2, 0).clamp(0, 1).numpy())
        photo_ax.axis("off")
        true = int(predictions.targets[i])
        photo_ax.set_title(_wrapped(class_names[true], 22), fontsize=8)
        top = predictions.topk[i].tolist()[::-1]
        probabilities = predictions.probabilities[i].tolist()[::-1]
        bar_ax.barh(range(len(top)), probabilities, color=["green" if c == true else "0.6" for c in top])
        bar_ax.set_yticks(range(len(top)), [class_names[c] for c in top], fontsize=8)
        bar_ax.set_xlim(0, 1)
        bar_ax.tick_params(axis="x", labelsize=7)
    axes[-1, 1].set_xlabel("probability (top 5; green: the true class)", fontsize=8)
    fig.tight_layout()
    return fig


def _wrapped(text: str, width: int = 18) -> str:
    """A class name broken over lines of at most ``width`` characters, for a small title."""
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) or text
