"""A model's answers: on a whole data set (accuracy, top-5), on one photo, and which mistakes teach.

Every function works for a model that ends in ``LogSoftmax`` (the notes' head) and for one
that outputs raw scores (logits): ``log_softmax`` of either gives log-probabilities, and
the ranking of classes is the same.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torch import nn

from course_utils.context import RunContext
from course_utils.data.transforms import TransformSettings, eval_transform
from course_utils.models.forward import inference
from course_utils.storage.image_files import open_rgb, to_rgb

__all__ = ["Predictions", "predict", "predict_image", "right_and_wrong_pairs"]


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


def predict(model: nn.Module, loader: Iterable, *, context: RunContext, k: int = 5) -> Predictions:
    """Run ``model`` (in evaluation mode) over ``loader``; keep the ``k`` best classes per image.

    The images go through the model as ``fit`` validates them
    (:func:`~course_utils.models.forward.inference`: the context's device, layout and precision).
    """
    targets, tops, probs = [], [], []
    with inference(model, context) as run:
        for images, labels in loader:
            log_probs = torch.log_softmax(run(images), dim=1)
            best = log_probs.topk(min(k, log_probs.shape[1]), dim=1)
            tops.append(best.indices.cpu())
            probs.append(best.values.exp().cpu())
            targets.append(torch.as_tensor(labels))
    if not targets:
        raise ValueError("The loader yielded no images; check the data set is not empty.")
    return Predictions(torch.cat(targets), torch.cat(tops), torch.cat(probs))


def predict_image(model: nn.Module, image: str | os.PathLike | Image.Image, class_names: Sequence[str],
                  settings: TransformSettings | None = None, *, k: int = 5, context: RunContext,
                  transform: Callable | None = None) -> list[tuple[str, float]]:
    """The ``k`` most probable classes of one image file, as ``(name, probability)`` pairs.

    The image is preprocessed exactly like validation data: ``eval_transform(settings)``
    (resize, centre crop, normalise), unless you pass ``transform``, and runs through the model
    as in :func:`predict`. ``settings`` defaults to the notes' (224 px, ImageNet normalisation);
    pass the ones the model was trained with.
    """
    settings = settings or TransformSettings()
    if not isinstance(image, Image.Image):
        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"No image file at {path}.")
        image = open_rgb(path)  # says which file is broken; 16-bit and transparent images converted
    tensor = (transform or eval_transform(settings))(to_rgb(image)).unsqueeze(0)
    with inference(model, context) as run:
        probabilities = torch.softmax(torch.log_softmax(run(tensor), 1), 1)[0].cpu()
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
