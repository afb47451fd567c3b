"""Checkers for notebook 08 (what the network looks at): per-class accuracy and the most confused
pair read from a confusion matrix, and Grad-CAM written by hand. The expected answers come from
the course's own :mod:`course_utils.analysis.confusion` and :mod:`course_utils.analysis.gradcam`;
Grad-CAM is checked on a small CNN built here, so that a check takes milliseconds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Integral

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.analysis.confusion import per_class_accuracy, top_confusions
from course_utils.analysis.gradcam import grad_cam
from course_utils.exercises.verdict import Mistake, Verdict, attempt, checker, right

__all__ = ["check_class_accuracy", "check_grad_cam_by_hand", "check_most_confused_pair"]


def _matrices() -> list[torch.Tensor]:
    """Two confusion matrices (``matrix[true, predicted]``), each with a class that has no photos.

    In the first, class 0 is taken for class 1 three times (the largest single cell), while 2 and 3
    are taken for each other twice each way (the most confused pair, both ways).
    """
    designed = torch.tensor([[9, 3, 0, 0, 0, 0],
                             [0, 7, 0, 0, 0, 1],
                             [0, 0, 6, 2, 0, 0],
                             [1, 0, 2, 5, 0, 0],
                             [0, 0, 0, 0, 0, 0],
                             [0, 0, 1, 0, 0, 8]])
    generator = torch.Generator().manual_seed(0)
    random = torch.randint(0, 3, (8, 8), generator=generator) + 6 * torch.eye(8, dtype=torch.long)
    random[5] = 0  # class 5: no photos
    return [designed, random]


def _as_vector(value: object, call: str) -> torch.Tensor:
    try:
        return torch.as_tensor(value, dtype=torch.float64).detach().cpu()
    except (TypeError, ValueError, RuntimeError):
        raise Mistake(f"{call} returned {type(value).__name__}: return a tensor, one accuracy per class.") from None


@checker
def check_class_accuracy(class_accuracy: Callable[[torch.Tensor], torch.Tensor]) -> Verdict:
    """Check ``class_accuracy(matrix)``: the accuracy of each true class, NaN for a class without photos."""
    for matrix in _matrices():
        classes = matrix.shape[0]
        call = f"class_accuracy(matrix) for a {classes}×{classes} matrix"
        answer = _as_vector(attempt(class_accuracy, matrix.clone(), call=call), call)
        expected = per_class_accuracy(matrix)
        empty = expected.isnan()
        if tuple(answer.shape) == (classes - int(empty.sum()),):
            raise Mistake(f"{call} gives {len(answer)} numbers: give one per class, NaN for a class "
                          f"without photos, or every class after it moves to the wrong index.")
        if tuple(answer.shape) != (classes,):
            raise Mistake(f"{call} has shape {tuple(answer.shape)}: give one accuracy per class, shape ({classes},).")
        if torch.allclose(answer, expected, equal_nan=True):
            continue
        diagonal = matrix.diagonal().double()
        seen = ~empty
        if torch.allclose(answer, diagonal / matrix.sum(dim=0).double(), equal_nan=True):
            raise Mistake("you divided by the column sums, which is precision (of the photos predicted as c, "
                          "how many are c); a class's accuracy divides by its row, the photos that are c.")
        if torch.allclose(answer, diagonal / matrix.sum()):
            raise Mistake("you divided by all the photos: divide each class's right answers by that "
                          "class's own photos, the sum of its row.")
        if torch.allclose(answer, 100 * expected, equal_nan=True):
            raise Mistake("these are percents: give fractions between 0 and 1, as per_class_accuracy does.")
        if torch.equal(answer[seen], expected[seen].floor()):
            raise Mistake("use / instead of //: integer division rounds every accuracy below 1 down to 0.")
        if torch.allclose(answer[seen], expected[seen]):
            raise Mistake(f"class {int(empty.nonzero()[0])} has no photos, so its accuracy is undefined: give "
                          f"NaN, as 0 / 0 gives in floats ({float(answer[empty][0]):g} would describe photos "
                          f"that do not exist).")
        off = (answer - expected).abs().nan_to_num(nan=float("inf"))
        worst = int(torch.where(empty, 0.0, off).argmax())
        raise Mistake(f"{call}: class {worst} gets {float(answer[worst]):.3f} instead of "
                      f"{float(expected[worst]):.3f}; its accuracy is matrix[c, c] / matrix[c].sum().")
    return right("one accuracy per class, the diagonal over the row sums, NaN for a class without photos: "
                 "as per_class_accuracy gives.")


def _pair(value: object, classes: int, call: str) -> tuple[int, int]:
    if isinstance(value, Integral) or (isinstance(value, torch.Tensor) and value.numel() == 1):
        raise Mistake(f"{call} returned one number: give the pair (a, b); divmod(index, {classes}) "
                      f"turns argmax's flat index into (row, column).")
    if not isinstance(value, (tuple, list, torch.Tensor)) or len(value) != 2:
        raise Mistake(f"{call} returned {type(value).__name__}: give two class indices, (a, b).")
    a, b = value[0], value[1]
    if isinstance(a, str) or isinstance(b, str):
        raise Mistake("give the class indices (whole numbers), not their names.")
    try:
        return int(a), int(b)
    except (TypeError, ValueError, RuntimeError):
        raise Mistake(f"{call} returned {value!r}: give two class indices, (a, b).") from None


@checker
def check_most_confused_pair(most_confused_pair: Callable[[torch.Tensor], Sequence[int]]) -> Verdict:
    """Check ``most_confused_pair(matrix)``: the two classes most often taken for each other, both ways."""
    for matrix in _matrices():
        classes = matrix.shape[0]
        names = [str(c) for c in range(classes)]
        call = f"most_confused_pair(matrix) for a {classes}×{classes} matrix"
        a, b = _pair(attempt(most_confused_pair, matrix.clone(), call=call), classes, call)
        if not (0 <= a < classes and 0 <= b < classes):
            raise Mistake(f"{call} gave ({a}, {b}): class indices run from 0 to {classes - 1}.")
        if a == b:
            raise Mistake(f"({a}, {a}) is on the diagonal, photos predicted right: leave the diagonal "
                          f"out, e.g. with matrix - torch.diag(matrix.diagonal()).")
        best = top_confusions(matrix, names, n=1, both_ways=True)[0]
        both = int(matrix[a, b] + matrix[b, a])
        if both == best.both_ways:
            continue
        cell = top_confusions(matrix, names, n=1)[0]
        if {a, b} == {cell.true, cell.predicted}:
            raise Mistake(f"({a}, {b}) is the largest single cell, one direction only: count both, "
                          f"matrix[a, b] + matrix[b, a], and ({best.true}, {best.predicted}) wins "
                          f"with {best.both_ways}.")
        raise Mistake(f"{call}: classes {a} and {b} are taken for each other {both} times in all, while "
                      f"classes {best.true} and {best.predicted} are, {best.both_ways} times (both ways).")
    return right("the pair taken for each other most often, counted both ways and off the diagonal: "
                 "as top_confusions(..., both_ways=True) ranks it.")


def _small_cnn() -> tuple[nn.Module, nn.Module, torch.Tensor]:
    """A small frozen classifier of 5 classes (frozen like the notebook's backbone), the layer to
    explain (a convolution whose output a ReLU clips, as Lite0's ``bn1``), and two 16×16 images.
    Seeded: the same every time."""
    torch.manual_seed(0)  # the checker's random numbers are its own (see verdict.checker)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(8, 12, 3, padding=1), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(12, 5))
    return model.eval().requires_grad_(False), model[3], torch.randn(2, 3, 16, 16)


def _slips(model: nn.Module, layer: nn.Module, image: torch.Tensor, target: int) -> dict[str, torch.Tensor]:
    """The maps the usual slips give: each computed with PyTorch from the layer's activations."""
    kept: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda module, inputs, output: kept.append(output))
    with torch.enable_grad():
        scores = model(image[None].clone().requires_grad_(True))  # a path for gradients: the model is frozen
    handle.remove()
    activations = kept[0][0]

    def gradient(score: torch.Tensor) -> torch.Tensor:
        return torch.autograd.grad(score, kept[0], retain_graph=True)[0][0]

    def cam(weights: torch.Tensor) -> torch.Tensor:
        return (weights[:, None, None] * activations).sum(dim=0).detach()

    grads = gradient(scores[0, target])
    return {
        "no relu": cam(grads.mean(dim=(1, 2))),
        "activation weights": F.relu(cam(activations.mean(dim=(1, 2)))),
        "probability": F.relu(cam(gradient(scores.softmax(dim=1)[0, target]).mean(dim=(1, 2)))),
        "log-probability": F.relu(cam(gradient(scores.log_softmax(dim=1)[0, target]).mean(dim=(1, 2)))),
        "loss": F.relu(cam(gradient(F.cross_entropy(scores, torch.tensor([target]))).mean(dim=(1, 2)))),
        "no average": F.relu((grads * activations).sum(dim=0)).detach(),
        "summed": F.relu(cam(grads.sum(dim=(1, 2)))),
    }


FROZEN = ("nothing in the graph requires a gradient, since the model is frozen (like the flowers model): "
          "let a copy of the image require one, image[None].clone().requires_grad_(True).")

SLIPS = {
    "no relu": "your map has negative values: end with a ReLU, which keeps only what speaks for the class.",
    "activation weights": "you weighted each feature map by its mean activation: Grad-CAM's weight is the "
                          "mean of the gradient, how much that map raises the class score.",
    "probability": "you took the gradient of the softmax probability: Grad-CAM takes the gradient of the "
                   "class score itself, the model's raw output for target.",
    "log-probability": "you took the gradient of the log-probability: Grad-CAM takes the gradient of the "
                       "class score itself, the model's raw output for target.",
    "loss": "you took the gradient of the loss: Grad-CAM takes the gradient of the class score itself, "
            "the model's raw output for target (the loss's gradient points the other way).",
    "no average": "you multiplied gradients and activations cell by cell: average each map's gradient "
                  "over the grid first, one weight per feature map.",
    "summed": "you summed the gradient over the grid: average it (divide by h·w), one weight per feature map.",
}


@checker
def check_grad_cam_by_hand(grad_cam_by_hand: Callable[[nn.Module, nn.Module, torch.Tensor, int], torch.Tensor]
                           ) -> Verdict:
    """Check ``grad_cam_by_hand(model, layer, image, target)``: the raw Grad-CAM map ``(h, w)`` of
    one image ``(3, H, W)`` for class ``target``, against :func:`course_utils.analysis.gradcam.grad_cam`."""
    model, layer, images = _small_cnn()
    with torch.no_grad():
        ranked = model(images).argsort(dim=1, descending=True)
    for image, target, predicted in [(images[0], int(ranked[0, 0]), True), (images[1], int(ranked[1, 1]), False)]:
        which = "the predicted class" if predicted else "the second-ranked class"
        call = f"grad_cam_by_hand(model, layer, image, target) for {which}"
        hooks = len(layer._forward_hooks)
        try:
            value = attempt(grad_cam_by_hand, model, layer, image.clone(), target, call=call)
        except Mistake as mistake:
            if "does not require grad" in str(mistake):
                raise Mistake(FROZEN) from mistake
            raise
        if len(layer._forward_hooks) > hooks:
            raise Mistake("your forward hook is still on the layer: keep its handle and call handle.remove(), "
                          "or it runs at every later forward pass.")
        if not isinstance(value, torch.Tensor):
            raise Mistake(f"{call} returned {type(value).__name__}: return the map as a tensor of shape (h, w).")
        result = grad_cam(model, image[None], layer, classes=target)
        expected = result.raw[0]
        answer = value.detach().cpu().double().squeeze(0) if value.dim() == 3 else value.detach().cpu().double()
        if answer.shape == image.shape[-2:] and expected.shape != image.shape[-2:]:
            raise Mistake(f"your map has the image's size {tuple(answer.shape)}: return it at the layer's "
                          f"resolution {tuple(expected.shape)}, before upsampling.")
        if answer.dim() == 3 and answer.shape[1:] == expected.shape:
            raise Mistake(f"{call} has shape {tuple(value.shape)}, one map per channel: add up the "
                          f"weighted feature maps over the channels, into one map {tuple(expected.shape)}.")
        if answer.shape != expected.shape:
            raise Mistake(f"{call} has shape {tuple(value.shape)}: the layer's grid is {tuple(expected.shape)}, "
                          f"one map for the one image.")

        def same(a: torch.Tensor, b: torch.Tensor) -> bool:
            return torch.allclose(a, b.double(), rtol=1e-4, atol=1e-6 * (1 + float(b.abs().max())))

        if same(answer, expected):
            continue
        if same(answer, expected / expected.max()):
            raise Mistake("your map is divided by its maximum: return the raw map, before any scaling.")
        if not predicted and same(answer, grad_cam(model, image[None], layer).raw[0]):
            raise Mistake("you explained the predicted class: take the score of target, the class asked about.")
        slips = _slips(model, layer, image, target)
        for slip, message in SLIPS.items():
            if same(answer, slips[slip]):
                raise Mistake(message)
        raise Mistake(f"{call} differs from Grad-CAM: mean gradient over the grid per feature map, "
                      f"weighted sum of the maps, ReLU.")
    return right("your map equals the course's grad_cam(...).raw for the predicted class and for another "
                 "class, on a small CNN.")
