"""Using a checkpoint from the command line: ``evaluate`` it on a split, ``predict`` image files.

Both need nothing but a checkpoint written by the recipe (``stage1.pt`` or ``stage2.pt``) and a
folder or image files: the checkpoint records the model's name, classes and preprocessing
(:func:`~course_utils.transfer.recipe.model_card`), so the model is rebuilt without a download
(every weight is in the file) and the photos are prepared exactly as the validation photos were.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn
from torch.utils.data import DataLoader

from course_utils.analysis.confusion import ClassScore, class_scores, confusion_matrix
from course_utils.analysis.predictions import Predictions, predict, predict_image
from course_utils.arguments import first_line
from course_utils.context import RunContext
from course_utils.data.flowers import find_flowers, flower_datasets
from course_utils.data.transforms import TransformSettings, eval_transform
from course_utils.models.build import build_model
from course_utils.storage.checkpoints import TrainingState, check_compatible

__all__ = ["EvaluationReport", "ImagePrediction", "evaluate_checkpoint", "load_classifier", "predict_images"]


def load_classifier(checkpoint: str | Path, context: RunContext) -> tuple[nn.Module, dict[str, Any], TransformSettings]:
    """The model of a checkpoint (best weights), its recorded description and its preprocessing."""
    state = TrainingState.load(checkpoint)
    extra = state.extra
    missing = [k for k in ("model_name", "class_names", "transform") if k not in extra]
    if missing:
        raise ValueError(f"{checkpoint} does not record {missing}: it was not written by the flowers recipe "
                         "(python -m course_utils train, or notebook 06 with checkpoint_extra=model_card(...)).")
    model = build_model(extra["model_name"], len(extra["class_names"]), pretrained=False, context=context)
    model.load_state_dict(state.best_weights())
    return model.to(context.device).eval(), extra, TransformSettings.from_dict(extra["transform"])


@dataclass
class EvaluationReport:
    """A checkpoint's accuracy on one split, with a score for each class."""

    split: str
    predictions: Predictions
    class_names: list[str]
    accuracy: float
    top5: float
    per_class: list[ClassScore]


def evaluate_checkpoint(checkpoint: str | Path, folder: str | Path | None = None, *, split: str = "valid",
                        batch_size: int = 64, context: RunContext) -> EvaluationReport:
    """Accuracy, top-5 and a per-class report of a checkpoint on ``split`` of ``folder``.

    ``folder`` defaults to the data the checkpoint was trained on (recorded by the recipe),
    else :func:`~course_utils.data.flowers.find_flowers`'s choice. Its classes must be the
    checkpoint's (checked, with an error naming the difference).
    """
    model, extra, settings = load_classifier(checkpoint, context)
    root = folder if folder is not None else extra.get("data_root") or find_flowers(context=context).root
    sets = flower_datasets(Path(root), eval_transform=eval_transform(settings))  # type: ignore[arg-type]
    if split not in sets or split == "train":
        found = [s for s in sets if s != "train"]
        raise ValueError(f"{root} has no {split!r} split to evaluate on (it has {found}); "
                         f"pass --split {found[0] if found else 'valid'}.")
    data = sets[split]
    check_compatible({"extra": extra}, class_names=data.class_names)
    data.transform = eval_transform(settings)
    loader: DataLoader[Any] = DataLoader(data, batch_size=batch_size, shuffle=False, **context.loader_kwargs())
    predictions = predict(model, loader, context=context, k=5)
    names = list(extra["class_names"])
    return EvaluationReport(split, predictions, names, predictions.accuracy(),
                            predictions.topk_accuracy(min(5, predictions.topk.shape[1])),
                            class_scores(confusion_matrix(predictions, len(names)), names))


@dataclass
class ImagePrediction:
    """One image file's ``k`` most probable classes, or why it could not be read."""

    image: str
    ranked: list[tuple[str, float]] | None = None
    error: str | None = None


def predict_images(checkpoint: str | Path, images: Sequence[str | Path], *, k: int = 5,
                   context: RunContext) -> list[ImagePrediction]:
    """The ``k`` most probable classes (name, probability) of each image file, from the checkpoint alone.

    A file that cannot be read (missing, not an image, damaged) gets its reason and the others
    are still predicted.
    """
    if not images:
        raise ValueError("Name at least one image file to predict.")
    model, extra, settings = load_classifier(checkpoint, context)
    results = []
    for image in images:
        try:
            ranked = predict_image(model, image, extra["class_names"], settings, k=k, context=context)
        except (OSError, ValueError) as error:  # FileNotFoundError, PIL's UnidentifiedImageError, ...
            results.append(ImagePrediction(str(image), error=first_line(error)))
        else:
            results.append(ImagePrediction(str(image), ranked=ranked))
    return results
