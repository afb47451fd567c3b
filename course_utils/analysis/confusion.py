"""A confusion matrix (混淆矩阵) for many classes that stays readable, and what to read from it.

With 102 classes, a confusion matrix in the data set's order is a 102×102 grid of mostly zeros
with a diagonal: the mistakes are scattered dots that no one can name. Three things make it
readable:

- **per-class accuracy** (:func:`per_class_accuracy`): the diagonal divided by the row sums, one
  number per class, and the **worst classes** (:func:`worst_classes`) with what they are taken for;
- **an order** (:func:`class_order`): classes sorted by accuracy (the worst in the top-left
  corner), or clustered so that classes confused with each other sit next to each other and
  their mistakes form blocks near the diagonal;
- **the most confused pairs** (:func:`top_confusions`), to look at side by side with photos
  (:func:`show_confusion_examples`).

``matrix[t, p]`` counts the images of true class ``t`` predicted as ``p``
(:func:`confusion_matrix` builds it from predictions). This module is the one home of the
confusion analysis: notebook 08 and the command's ``evaluate`` both read their tables from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from course_utils.analysis.predictions import Predictions

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["ClassScore", "Confusion", "class_order", "class_scores", "confusion_matrix", "examples_of",
           "mistake_distance", "mistake_distances", "per_class_accuracy", "plot_confusion", "show_confusion_examples", "top_confusions", "worst_classes"]


def confusion_matrix(predictions: Predictions, num_classes: int) -> torch.Tensor:
    """``matrix[true, predicted]`` = number of images (from :func:`~course_utils.analysis.predictions.predict`)."""
    index = predictions.targets * num_classes + predictions.predicted
    return torch.bincount(index, minlength=num_classes**2).reshape(num_classes, num_classes)


def _checked(matrix: torch.Tensor | np.ndarray) -> torch.Tensor:
    matrix = torch.as_tensor(matrix)
    if matrix.dim() != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"A confusion matrix is square (classes × classes); got shape {tuple(matrix.shape)}.")
    if matrix.is_floating_point() or (matrix < 0).any():
        raise ValueError("A confusion matrix holds counts (non-negative integers): build it with "
                         "course_utils.analysis.confusion.confusion_matrix(predictions, num_classes).")
    return matrix.long()


def per_class_accuracy(matrix: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Accuracy of each true class: ``matrix[c, c] / matrix[c].sum()``; NaN for a class with no images."""
    matrix = _checked(matrix)
    totals = matrix.sum(dim=1).double()
    return torch.where(totals > 0, matrix.diagonal().double() / totals.clamp_min(1), torch.nan)


@dataclass(frozen=True)
class ClassScore:
    """How one class fares: its images, how many were right, and what it is most often taken for."""

    index: int
    name: str
    correct: int
    total: int
    taken_for: str | None  # the class its images are most often wrongly predicted as (None: no mistakes)
    taken_for_count: int
    predicted: int = 0  # how many images (of any class) were predicted as this one

    @property
    def accuracy(self) -> float:
        """``correct / total``: the class's recall."""
        return self.correct / self.total

    @property
    def precision(self) -> float:
        """``correct / predicted``: how often a prediction of this class is right (NaN if never predicted)."""
        return self.correct / self.predicted if self.predicted else float("nan")


def class_scores(matrix: torch.Tensor | np.ndarray, class_names: Sequence[str]) -> list[ClassScore]:
    """A :class:`ClassScore` for every class that has images, in class order."""
    matrix = _checked(matrix)
    if len(class_names) != matrix.shape[0]:
        raise ValueError(f"{len(class_names)} class names for a {matrix.shape[0]}-class matrix.")
    scores = []
    for c in range(matrix.shape[0]):
        total = int(matrix[c].sum())
        if not total:
            continue
        off = matrix[c].clone()
        off[c] = -1
        other = int(off.argmax())
        count = int(matrix[c, other])
        scores.append(ClassScore(index=c, name=class_names[c], correct=int(matrix[c, c]), total=total,
                                 taken_for=class_names[other] if count > 0 else None, taken_for_count=count,
                                 predicted=int(matrix[:, c].sum())))
    return scores


def worst_classes(matrix: torch.Tensor | np.ndarray, class_names: Sequence[str], n: int = 10) -> list[ClassScore]:
    """The ``n`` classes with the lowest accuracy (ties: more images first, then index); classes without images are left out."""
    scores = class_scores(matrix, class_names)
    scores.sort(key=lambda score: (score.accuracy, -score.total, score.index))
    return scores[:n]


@dataclass(frozen=True)
class Confusion:
    """``count`` images of class ``true`` were predicted as ``predicted``; ``reverse`` the other way round."""

    true: int
    predicted: int
    count: int
    true_name: str
    predicted_name: str
    reverse: int = 0  # images of ``predicted`` predicted as ``true``

    @property
    def both_ways(self) -> int:
        """``count + reverse``: how often the two classes were taken for each other."""
        return self.count + self.reverse


def top_confusions(matrix: torch.Tensor | np.ndarray, class_names: Sequence[str], n: int = 5, *,
                   both_ways: bool = False) -> list[Confusion]:
    """The most frequent mistakes, largest first; ties broken by class indices, so the order is fixed.

    By default each off-diagonal cell (true → predicted) is one mistake. With ``both_ways`` a pair
    of classes counts the mistakes in both directions (``count + reverse``): with a few validation
    photos per class most cells hold a single image, and the pairs taken for each other *both*
    ways are the look-alikes. Each pair is then listed once, its larger direction as ``true``.
    """
    matrix = _checked(matrix)
    if len(class_names) != matrix.shape[0]:
        raise ValueError(f"{len(class_names)} class names for a {matrix.shape[0]}-class matrix.")
    cells = [(t, p) for t, p in torch.nonzero(matrix).tolist() if t != p]
    if both_ways:
        pairs = {(min(t, p), max(t, p)) for t, p in cells}
        cells = [(a, b) if int(matrix[a, b]) >= int(matrix[b, a]) else (b, a) for a, b in sorted(pairs)]
    found = [Confusion(t, p, int(matrix[t, p]), class_names[t], class_names[p], int(matrix[p, t])) for t, p in cells]
    if both_ways:
        found.sort(key=lambda c: (-c.both_ways, -c.count, min(c.true, c.predicted), max(c.true, c.predicted)))
    else:
        found.sort(key=lambda c: (-c.count, c.true, c.predicted))
    return found[:n]


def class_order(matrix: torch.Tensor | np.ndarray, by: str = "accuracy") -> list[int]:
    """An order of the classes that makes the matrix readable.

    - ``"accuracy"``: worst class first (ties: by index);
    - ``"cluster"``: classes that are confused with each other end up next to each other.
      The similarity of two classes is how often either is taken for the other, as a fraction
      of their images; hierarchical clustering (SciPy, average linkage, optimal leaf order)
      of ``1 - similarity`` gives the order.
    """
    matrix = _checked(matrix)
    if by == "accuracy":
        accuracy = torch.nan_to_num(per_class_accuracy(matrix), nan=1.0)
        return sorted(range(matrix.shape[0]), key=lambda c: (float(accuracy[c]), c))
    if by == "cluster":
        from scipy.cluster.hierarchy import leaves_list, linkage
        from scipy.spatial.distance import squareform

        counts = matrix.double().numpy()
        rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        similarity = np.clip(rates + rates.T, 0, 1)
        distance = 1 - similarity
        np.fill_diagonal(distance, 0)
        if matrix.shape[0] < 3:
            return list(range(matrix.shape[0]))
        tree = linkage(squareform(distance, checks=False), method="average", optimal_ordering=True)
        return [int(c) for c in leaves_list(tree)]
    raise ValueError(f"by must be 'accuracy' or 'cluster', got {by!r}.")


def mistake_distances(matrix: torch.Tensor | np.ndarray, order: Sequence[int]) -> torch.Tensor:
    """One value per mistake: ``|position(true) - position(predicted)|`` (in classes) when the classes
    are in ``order``, each off-diagonal image once (a cell of count 3 gives three values).

    Two orders measured on the same mistakes are paired: compare them with
    :func:`course_utils.analysis.seeds.compare_paired`.
    """
    matrix = _checked(matrix)
    order = list(order)
    if sorted(order) != list(range(matrix.shape[0])):
        raise ValueError("order must list every class of the matrix exactly once.")
    position = torch.empty(len(order), dtype=torch.long)
    position[torch.tensor(order)] = torch.arange(len(order))
    off = matrix.clone().long()
    off.fill_diagonal_(0)
    cells = torch.nonzero(off)  # (true, predicted) of every non-empty off-diagonal cell, row by row
    counts = off[cells[:, 0], cells[:, 1]]
    distance = (position[cells[:, 0]] - position[cells[:, 1]]).abs().double()
    return distance.repeat_interleave(counts)


def mistake_distance(matrix: torch.Tensor | np.ndarray, order: Sequence[int]) -> float:
    """How far, on average, a mistake lies from the diagonal when the classes are in ``order``.

    The mean of :func:`mistake_distances` (0 without mistakes). An order fitted on one matrix
    (:func:`class_order`) is judged fairly only on another one (other photos or another model): on its
    own matrix it is partly measuring how well it memorised it.
    """
    distances = mistake_distances(matrix, order)
    return float(distances.mean()) if len(distances) else 0.0


def examples_of(targets: torch.Tensor, predicted: torch.Tensor, true: int, as_class: int) -> list[int]:
    """Indices of the images of class ``true`` predicted as ``as_class`` (``as_class == true``: the right ones)."""
    targets, predicted = torch.as_tensor(targets), torch.as_tensor(predicted)
    if targets.shape != predicted.shape:
        raise ValueError(f"targets {tuple(targets.shape)} and predictions {tuple(predicted.shape)} differ in shape.")
    return torch.nonzero((targets == true) & (predicted == as_class)).flatten().tolist()


def plot_confusion(matrix: torch.Tensor | np.ndarray, class_names: Sequence[str], order: Sequence[int] | None = None,
                   *, ax: Axes | None = None, labels: bool | None = None, title: str | None = None) -> Axes:
    """The matrix as a heat map, rows normalised (each row: where that class's images went), in ``order``.

    Rows are true classes, columns predicted ones. ``labels`` writes the class names on the
    axes (default: only when there are at most 40 classes, else class indices are too dense to read).
    """
    import matplotlib.pyplot as plt

    matrix = _checked(matrix)
    order = list(order) if order is not None else list(range(matrix.shape[0]))
    if sorted(order) != sorted(set(order)) or not set(order) <= set(range(matrix.shape[0])):
        raise ValueError("order must list class indices of the matrix, each at most once.")
    sub = matrix[order][:, order].double()
    rates = (sub / sub.sum(dim=1, keepdim=True).clamp_min(1)).numpy()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6))
    shown = np.where(rates > 0, rates, np.nan)  # empty cells stay white: the mistakes stand out
    image = ax.imshow(shown, cmap="viridis_r", vmin=0, vmax=1, interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    labels = len(order) <= 40 if labels is None else labels
    if labels:
        names = [class_names[c] for c in order]
        ax.set_xticks(range(len(order)), names, rotation=90, fontsize=7)
        ax.set_yticks(range(len(order)), names, fontsize=7)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if title:
        ax.set_title(title)
    return ax


def show_confusion_examples(confusions: Sequence[Confusion], mistaken: Sequence, typical: Sequence,
                            *, pairs_per_row: int = 2, size: float = 2.2) -> Figure:
    """Each confusion as two photos: one of the true class that was taken for the other, and one of the other class.

    ``mistaken[i]`` and ``typical[i]`` are pictures (H, W, 3 arrays or PIL images) for
    ``confusions[i]``: a misclassified photo, and a photo that really is the predicted class.
    """
    import matplotlib.pyplot as plt

    if not (len(confusions) == len(mistaken) == len(typical)) or not confusions:
        raise ValueError("Give one mistaken and one typical photo for each confusion (at least one).")
    per_row = max(1, min(pairs_per_row, len(confusions)))
    rows = -(-len(confusions) // per_row)
    fig, axes = plt.subplots(rows, 2 * per_row, figsize=(2 * per_row * size, 1.2 * size * rows), squeeze=False)
    for i, (confusion, left, right) in enumerate(zip(confusions, mistaken, typical, strict=True)):
        row, column = divmod(i, per_row)
        back = f", and back ×{confusion.reverse}" if confusion.reverse else ""
        axes[row, 2 * column].imshow(left)
        axes[row, 2 * column].set_title(f"{confusion.true_name}, taken for\n{confusion.predicted_name} "
                                        f"×{confusion.count}{back}", fontsize=8, color="red")
        axes[row, 2 * column + 1].imshow(right)
        axes[row, 2 * column + 1].set_title(f"a real\n{confusion.predicted_name}", fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig
