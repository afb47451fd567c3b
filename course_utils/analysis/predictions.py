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

import torch
from PIL import Image
from torch import nn

from course_utils.data.transforms import TransformSettings, eval_transform
from course_utils.env import RunContext, current_context
from course_utils.storage.image_files import open_rgb, to_rgb

__all__ = ["Predictions", "confused_pairs", "confusion_matrix", "predict", "predict_image", "right_and_wrong_pairs"]


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
def predict(model: nn.Module, loader: Iterable, *, context: RunContext | None = None,
            k: int = 5) -> Predictions:
    """Run ``model`` (in evaluation mode) over ``loader``; keep the ``k`` best classes per image.

    The images go through the model as ``fit`` validates them: on the context's device, in its
    memory layout and precision.
    """
    from course_utils.training.loop import uses_channels_last

    context = context or current_context()
    layout = torch.channels_last if uses_channels_last(model, context) else torch.preserve_format
    model.eval().to(context.device, memory_format=layout)  # type: ignore[call-overload]
    targets, tops, probs = [], [], []
    for images, labels in loader:
        with context.autocast():
            scores = model(images.to(context.device, non_blocking=True, memory_format=layout))
        log_probs = torch.log_softmax(scores.float(), dim=1)
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


def predict_image(model: nn.Module, image: str | os.PathLike | Image.Image, class_names: Sequence[str],
                  settings: TransformSettings | None = None, *, k: int = 5,
                  context: RunContext | None = None,
                  transform: Callable | None = None) -> list[tuple[str, float]]:
    """The ``k`` most probable classes of one image file, as ``(name, probability)`` pairs.

    The image is preprocessed exactly like validation data: ``eval_transform(settings)``
    (resize, centre crop, normalise), unless you pass ``transform``. ``settings`` defaults to
    the notes' (224 px, ImageNet normalisation); pass the ones the model was trained with.
    """
    settings = settings or TransformSettings()
    if not isinstance(image, Image.Image):
        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"No image file at {path}.")
        image = open_rgb(path)  # says which file is broken; 16-bit and transparent images converted
    tensor = (transform or eval_transform(settings))(to_rgb(image)).unsqueeze(0)
    device = (context or current_context()).device
    model.eval().to(device)
    with torch.inference_mode():
        probabilities = torch.softmax(torch.log_softmax(model(tensor.to(device)).float(), 1), 1)[0].cpu()
    best = probabilities.topk(min(k, len(class_names)))
    return [(class_names[i], float(p)) for p, i in zip(best.values.tolist(), best.indices.tolist(), strict=True)]


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
