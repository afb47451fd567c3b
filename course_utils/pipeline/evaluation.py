"""How good is a trained classifier? Accuracy, top-5, confusions, pictures, one photo.

Every function works for a model that ends in ``LogSoftmax`` (the notes' head) and for one
that outputs raw scores (logits): ``log_softmax`` of either gives log-probabilities, and
the ranking of classes is the same.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from PIL import Image
from torch import nn

from course_utils.data.transforms import TransformSettings, denormalize, eval_transform
from course_utils.storage.image_files import open_rgb, to_rgb

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass
class Predictions:
    """A model's answers on a whole data set."""

    targets: torch.Tensor  # (N,) true class indices
    topk: torch.Tensor  # (N, k) class indices, most probable first
    probabilities: torch.Tensor  # (N, k) their probabilities

    @property
    def predicted(self) -> torch.Tensor:
        """The top-1 class index of every image."""
        return self.topk[:, 0]

    def accuracy(self) -> float:
        """Fraction of images whose most probable class is the true one."""
        return (self.predicted == self.targets).float().mean().item()

    def topk_accuracy(self, k: int = 5) -> float:
        """Fraction of images whose true class is among the ``k`` most probable."""
        if k > self.topk.shape[1]:
            raise ValueError(f"Only the top {self.topk.shape[1]} classes were kept; ask for k <= that.")
        return (self.topk[:, :k] == self.targets[:, None]).any(dim=1).float().mean().item()


@torch.inference_mode()
def predict(model: nn.Module, loader: Iterable, *, device: torch.device | str | None = None,
            k: int = 5) -> Predictions:
    """Run ``model`` (in evaluation mode) over ``loader``; keep the ``k`` best classes per image."""
    from course_utils.env import get_device

    device = torch.device(device) if device is not None else get_device()
    model.eval().to(device)
    targets, tops, probs = [], [], []
    for images, labels in loader:
        log_probs = torch.log_softmax(model(images.to(device)).float(), dim=1)
        best = log_probs.topk(min(k, log_probs.shape[1]), dim=1)
        tops.append(best.indices.cpu())
        probs.append(best.values.exp().cpu())
        targets.append(labels)
    if not targets:
        raise ValueError("The loader yielded no images; check the data set is not empty.")
    return Predictions(torch.cat(targets), torch.cat(tops), torch.cat(probs))


def confused_pairs(predictions: Predictions, class_names: Sequence[str], n: int = 5) -> list[tuple[str, str, int]]:
    """The ``n`` most frequent mistakes as ``(true name, predicted name, count)``."""
    mistakes = Counter(
        (int(t), int(p)) for t, p in zip(predictions.targets, predictions.predicted, strict=True) if t != p
    )
    return [(class_names[t], class_names[p], count) for (t, p), count in mistakes.most_common(n)]


def confusion_matrix(predictions: Predictions, num_classes: int) -> torch.Tensor:
    """``matrix[true, predicted]`` = number of images."""
    index = predictions.targets * num_classes + predictions.predicted
    return torch.bincount(index, minlength=num_classes**2).reshape(num_classes, num_classes)


def show_predictions(model: nn.Module, dataset, class_names: Sequence[str], *, n: int = 8,
                     settings: TransformSettings | None = None, columns: int = 4,
                     device: torch.device | str | None = None, seed: int = 0) -> Figure:
    """A grid of ``n`` images of ``dataset`` titled "predicted (true)": green if right, red if wrong.

    ``dataset`` yields normalised tensors (an evaluation transform); ``settings`` undoes the
    normalisation for display. The images are a reproducible random sample (``seed``).
    """
    import matplotlib.pyplot as plt

    from course_utils.env import get_device

    settings = settings or TransformSettings()
    device = torch.device(device) if device is not None else get_device()
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:n].tolist()
    images = torch.stack([dataset[i][0] for i in order])
    labels = [dataset[i][1] for i in order]
    model.eval().to(device)
    with torch.inference_mode():
        predicted = model(images.to(device)).argmax(dim=1).cpu().tolist()
    rows = (len(order) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(2.8 * columns, 3.0 * rows), squeeze=False)
    for ax, image, p, t in zip(axes.flat, denormalize(images, settings.mean, settings.std), predicted, labels, strict=False):
        ax.imshow(image.permute(1, 2, 0).numpy())
        ax.set_title(f"{class_names[p]}\n({class_names[t]})", color="green" if p == t else "red", fontsize=9)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig


def predict_image(model: nn.Module, image: str | os.PathLike | Image.Image, class_names: Sequence[str],
                  settings: TransformSettings | None = None, *, k: int = 5,
                  device: torch.device | str | None = None,
                  transform: Callable | None = None) -> list[tuple[str, float]]:
    """The ``k`` most probable classes of one image file, as ``(name, probability)`` pairs.

    The image is preprocessed exactly like validation data: ``eval_transform(settings)``
    (resize, centre crop, normalise), unless you pass ``transform``. ``settings`` defaults to
    the notes' (224 px, ImageNet normalisation); pass the ones the model was trained with.
    """
    from course_utils.env import get_device

    settings = settings or TransformSettings()
    if not isinstance(image, Image.Image):
        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"No image file at {path}.")
        image = open_rgb(path)  # says which file is broken; 16-bit and transparent images converted
    tensor = (transform or eval_transform(settings))(to_rgb(image)).unsqueeze(0)
    device = torch.device(device) if device is not None else get_device()
    model.eval().to(device)
    with torch.inference_mode():
        probabilities = torch.softmax(torch.log_softmax(model(tensor.to(device)).float(), 1), 1)[0].cpu()
    best = probabilities.topk(min(k, len(class_names)))
    return [(class_names[i], float(p)) for p, i in zip(best.values.tolist(), best.indices.tolist(), strict=True)]


def _wrapped(text: str, width: int = 18) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) or text


def right_and_wrong_pairs(predictions: Predictions, n: int = 4, seed: int = 0) -> list[tuple[int, int]]:
    """``n`` pairs ``(wrong, right)`` of image indices that teach something.

    ``wrong`` is an image the model got wrong (true class T, predicted P); ``right`` is an image
    of class P that the model got right: the flower the model thought it saw. Mistakes whose
    predicted class has no correctly predicted image are skipped; when fewer than ``n`` pairs
    are found (a model that rarely errs), pairs of right predictions fill the rest. A random,
    reproducible choice.
    """
    predicted, targets = predictions.predicted, predictions.targets
    correct = predicted == targets
    order = torch.randperm(len(targets), generator=torch.Generator().manual_seed(seed)).tolist()
    pairs: list[tuple[int, int]] = []
    used: set[int] = set()
    for i in order:
        if correct[i] or int(predicted[i]) in used:
            continue
        rights = [j for j in order if correct[j] and int(targets[j]) == int(predicted[i])]
        if rights:
            pairs.append((i, rights[0]))
            used.add(int(predicted[i]))
        if len(pairs) == n:
            break
    rights = [j for j in order if correct[j] and j not in {k for pair in pairs for k in pair}]
    while len(pairs) < n and len(rights) >= 2:
        pairs.append((rights.pop(0), rights.pop(0)))
    return pairs


def show_right_and_wrong(dataset, predictions: Predictions, class_names: Sequence[str], *,
                         settings: TransformSettings | None = None, n: int = 4, seed: int = 0) -> Figure:
    """Each wrong prediction (red) next to a right one (green) of the class it was mistaken for.

    ``dataset`` is the one ``predictions`` were made on, in the same order (an unshuffled
    loader); ``settings`` undoes the normalisation for display. Titles give the prediction and,
    in brackets, the true name.
    """
    import matplotlib.pyplot as plt

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
    import matplotlib.pyplot as plt

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
