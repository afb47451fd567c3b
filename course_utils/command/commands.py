"""What the command line does: train (on one process or many), evaluate a checkpoint, predict images.

:func:`train` is notebook 06's pipeline, run by :func:`~course_utils.transfer.recipe.train_stage1`
and :func:`~course_utils.transfer.recipe.train_stage2` with a
:class:`~course_utils.transfer.recipe.TransferConfig`: the same recipe, the same
``TrainingState`` checkpoints (``stage1.pt``, ``stage2.pt``) the notebook loads. Under
``torchrun`` every process runs it: rank 0 prepares the data and computes stage 1 on cached
features alone (once; the others wait and then read its checkpoint), stage 2 (and stage 1 on
images) trains as ``DistributedDataParallel`` on sharded data, and rank 0 alone writes and prints.

:func:`evaluate_checkpoint` and :func:`predict_images` need nothing but a checkpoint (and a
folder or image files): the checkpoint records the model's name, classes and preprocessing.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

import course_utils
from course_utils.analysis.predictions import Predictions, predict, predict_image
from course_utils.context import RunContext
from course_utils.data.flowers import FlowerFolder, find_flowers, flower_datasets
from course_utils.data.transforms import TransformSettings, eval_transform, train_transform
from course_utils.models.build import build_model
from course_utils.storage.checkpoints import TrainingState, check_compatible
from course_utils.training.distributed import (
    barrier,
    check_agreement,
    distributed_job,
    gather_objects,
    sharded_loaders,
    weights_digest,
)
from course_utils.training.history import History
from course_utils.training.loop import evaluate
from course_utils.transfer.recipe import (
    TransferConfig,
    checkpoint_extra,
    skip_stage2,
    train_stage1,
    train_stage2,
)

__all__ = ["DATA_CHOICES", "EvaluationReport", "TrainReport", "evaluate_checkpoint", "per_class_report",
           "predict_images", "train"]

DATA_CHOICES = ("auto", "download", "synthetic")


@dataclass
class TrainReport:
    """What :func:`train` did: both stages' histories, the weights' digest, the test accuracy."""

    stage1: History
    stage2: History
    out_dir: Path
    weights: str
    """:func:`~course_utils.training.distributed.weights_digest` of the final weights, equal on every process."""
    world_size: int = 1
    test_accuracy: float | None = None
    seconds: dict[str, float] = field(default_factory=dict)


@contextlib.contextmanager
def _rank0_first(context: RunContext) -> Iterator[None]:
    """Rank 0 runs the block first (a download, a drawing, a cache); the others then find it done."""
    if not context.is_main:
        barrier(context)
    yield
    if context.is_main:
        barrier(context)


def _say(context: RunContext, text: str) -> None:
    if context.is_main:
        print(text, flush=True)


def _data_root(folder: str | None, data: str, context: RunContext, *, synthetic_size: int,
               synthetic_per_class: tuple[int, int, int]) -> tuple[Path, str]:
    if data not in DATA_CHOICES:
        raise ValueError(f"--data must be one of {DATA_CHOICES}, got {data!r}.")
    if data == "synthetic":
        if folder is not None:
            raise ValueError("Pass a FOLDER or --data synthetic, not both.")
        from course_utils.data.synthetic_flowers import make_synthetic_flowers

        root = make_synthetic_flowers(context.data_dir, image_size=synthetic_size, per_class=synthetic_per_class,
                                      progress=context.bars)
        return root, f"synthetic flowers drawn by the course ({root})"
    source = find_flowers(folder, download=data == "download", synthetic_size=synthetic_size,
                          synthetic_per_class=synthetic_per_class, progress=context.bars, context=context)
    assert source.root is not None
    return Path(source.root), source.description


def _file_list(sets: dict[str, FlowerFolder]) -> dict[str, list[Any]]:
    """Per split, every image's path (relative to its split), size and class: what ranks must share."""
    return {split: [[str(Path(path).relative_to(ds.root)), Path(path).stat().st_size, target]
                    for path, target in ds.samples] for split, ds in sets.items()}


def _finished(path: Path, epochs: int) -> bool:
    if not path.is_file():
        return False
    return int(TrainingState.load(path).epoch) >= epochs


def train(folder: str | None, config: TransferConfig, out_dir: str | Path, *, context: RunContext,
          data: str = "auto", synthetic_size: int = 160, synthetic_per_class: tuple[int, int, int] = (30, 10, 10),
          resume: bool = False, compile: bool = False) -> TrainReport:
    """Notebook 06's two stages as a command; checkpoints ``stage1.pt`` and ``stage2.pt`` in ``out_dir``.

    Every process of a ``torchrun`` job calls this with the same arguments (checked: a process
    with other settings or other files stops the job with :class:`~course_utils.training.distributed.RanksDisagree`).
    ``config.batch_size`` is the global batch. ``resume`` skips a finished stage 1 and continues
    stage 2 from its last finished epoch, on any number of processes. ``out_dir`` and the data
    must be on a file system every process sees.
    """
    config.check()
    out = Path(out_dir)
    stage1_path, stage2_path = out / "stage1.pt", out / "stage2.pt"
    seconds: dict[str, float] = {}
    with distributed_job(context):
        started = time.perf_counter()
        with _rank0_first(context):
            root, description = _data_root(folder, data, context, synthetic_size=synthetic_size,
                                           synthetic_per_class=synthetic_per_class)
        settings = config.transform_settings()
        sets = flower_datasets(root, train_transform(settings), eval_transform(settings),
                               max_per_class=config.max_per_class)
        stage1_sets = dict(sets)
        if not config.stage1_augment:
            stage1_sets["train"] = copy.copy(sets["train"])  # the same images, un-augmented
            stage1_sets["train"].transform = eval_transform(settings)
        class_names = list(sets["train"].class_names)
        extra = {**checkpoint_extra(config.model_name, sets["train"], settings), "data_root": str(root)}
        stage1_done = resume and _finished(stage1_path, config.stage1_epochs)
        check_agreement(context, {"config": asdict(config), "files": _file_list(sets), "classes": class_names,
                                  "resume": resume, "stage1 finished": stage1_done, "compile": compile,
                                  "course_utils": course_utils.__version__, "torch": torch.__version__})
        _say(context, f"{description}: {', '.join(f'{s} {len(d)}' for s, d in sets.items())} images, "
                      f"{len(class_names)} classes")
        _say(context, f"{context.describe()}; {context.world_size} process(es), global batch {config.batch_size}")
        _say(context, f"recipe: {config}")

        torch.manual_seed(config.seed)
        with _rank0_first(context):  # torchvision weights are downloaded once, by rank 0
            model = build_model(config.model_name, len(class_names), feature_extract=True)
        seconds["data and model"] = time.perf_counter() - started

        started = time.perf_counter()
        if stage1_done:
            stage1 = History.from_dict(TrainingState.load(stage1_path).history)
            _say(context, f"stage 1: finished in {stage1_path}, not trained again")
        elif config.stage1_features:  # the backbone's features once, by rank 0; the others read its checkpoint
            if context.is_main:
                train_stage1(model, stage1_sets, stage1_path, config, context=context.single_process(), extra=extra)
            barrier(context)
            stage1 = History.from_dict(TrainingState.load(stage1_path).history)
        else:
            loaders = sharded_loaders(stage1_sets, batch_size=config.batch_size, seed=config.seed, context=context)
            stage1 = train_stage1(model, stage1_sets, stage1_path, config, context=context, extra=extra,
                                  loaders=loaders, resume=resume)
        seconds["stage1"] = time.perf_counter() - started
        _say(context, f"stage 1: {stage1.summary()} ({seconds['stage1']:.1f}s)")

        started = time.perf_counter()
        loaders = sharded_loaders(sets, batch_size=config.batch_size, seed=config.seed, context=context)
        if config.stage2_epochs:
            stage2 = train_stage2(model, loaders, stage1_path, stage2_path, config, context=context, extra=extra,
                                  class_names=class_names, compile=compile, resume=stage1_done)
            seconds["stage2"] = time.perf_counter() - started
            _say(context, f"stage 2: {stage2.summary()} ({seconds['stage2']:.1f}s)")
        else:  # stage 1 alone: its best epoch is the result
            stage2 = skip_stage2(model, stage1_path, context=context)
            _say(context, f"stage 2: not run (--stage2-epochs 0); the result is stage 1's best epoch, {stage1_path}")

        digests = gather_objects(context, weights_digest(model.state_dict()))
        if len(set(digests)) != 1:
            raise RuntimeError(f"The processes ended with different weights (digests {digests}): "
                               "DistributedDataParallel should have kept them equal. Please report this.")
        _say(context, f"weights: {digests[0]} on {len(digests)} process(es), identical")
        report = TrainReport(stage1, stage2, out, digests[0], context.world_size, seconds=seconds)
        if "test" in loaders and len(sets["test"]):
            report.test_accuracy = evaluate(model, loaders["test"], criterion=nn.NLLLoss(), context=context)[1]
            _say(context, f"test: accuracy {report.test_accuracy:.3f} ({len(sets['test'])} images)")
        _say(context, f"checkpoints: {stage1_path}" + (f", {stage2_path}" if config.stage2_epochs else ""))
    return report


# Using a checkpoint ----------------------------------------------------------------------------


def _load_classifier(checkpoint: str | Path, context: RunContext) -> tuple[nn.Module, dict[str, Any], TransformSettings]:
    """The model of a checkpoint (best weights), its ``extra`` description and its preprocessing."""
    state = TrainingState.load(checkpoint)
    extra = state.extra
    missing = [k for k in ("model_name", "class_names", "transform") if k not in extra]
    if missing:
        raise ValueError(f"{checkpoint} does not record {missing}: it was not written by the flowers pipeline "
                         "(python -m course_utils train, or notebook 06 with checkpoint_extra).")
    model = build_model(extra["model_name"], len(extra["class_names"]), pretrained=False)
    model.load_state_dict(state.state_dict or state.last_state_dict)
    return model.to(context.device).eval(), extra, TransformSettings.from_dict(extra["transform"])


@dataclass
class EvaluationReport:
    """A checkpoint's accuracy on one split, with the per-class figures."""

    split: str
    predictions: Predictions
    class_names: list[str]
    accuracy: float
    top5: float
    per_class: list[dict[str, Any]]


def per_class_report(predictions: Predictions, class_names: Sequence[str]) -> list[dict[str, Any]]:
    """Per class: images, correct, recall (accuracy on the class), precision, most frequent mistake."""
    targets, predicted = predictions.targets, predictions.predicted
    rows = []
    for index, name in enumerate(class_names):
        mine = targets == index
        chosen = predicted == index
        correct = int((mine & chosen).sum())
        wrong = predicted[mine & ~chosen]
        mistake = class_names[int(wrong.mode().values)] if len(wrong) else ""
        rows.append({"class": name, "images": int(mine.sum()), "correct": correct,
                     "recall": correct / int(mine.sum()) if mine.any() else float("nan"),
                     "precision": correct / int(chosen.sum()) if chosen.any() else float("nan"),
                     "confused with": mistake})
    return rows


def evaluate_checkpoint(checkpoint: str | Path, folder: str | Path | None = None, *, split: str = "valid",
                        batch_size: int = 64, context: RunContext) -> EvaluationReport:
    """Accuracy, top-5 and a per-class report of a checkpoint on ``split`` of ``folder``.

    ``folder`` defaults to the data the checkpoint was trained on (recorded by the command),
    else :func:`~course_utils.data.flowers.find_flowers`'s choice. Its classes must be the
    checkpoint's (checked, with an error naming the difference).
    """
    model, extra, settings = _load_classifier(checkpoint, context)
    root = folder if folder is not None else extra.get("data_root") or find_flowers(context=context).root
    sets = flower_datasets(Path(root), eval_transform=eval_transform(settings))  # type: ignore[arg-type]
    if split not in sets or split == "train":
        found = [s for s in sets if s != "train"]
        raise ValueError(f"{root} has no {split!r} split to evaluate on (it has {found}); pass --split {found[0] if found else 'valid'}.")
    data = sets[split]
    check_compatible({"extra": extra}, class_names=data.class_names)
    data.transform = eval_transform(settings)
    loader: DataLoader[Any] = DataLoader(data, batch_size=batch_size, shuffle=False, **context.loader_kwargs())
    predictions = predict(model, loader, context=context, k=5)
    names = list(extra["class_names"])
    return EvaluationReport(split, predictions, names, predictions.accuracy(),
                            predictions.topk_accuracy(min(5, predictions.topk.shape[1])),
                            per_class_report(predictions, names))


def predict_images(checkpoint: str | Path, images: Sequence[str | Path], *, k: int = 5,
                   context: RunContext) -> dict[str, list[tuple[str, float]]]:
    """The ``k`` most probable classes (name, probability) of each image file, from the checkpoint alone."""
    if not images:
        raise ValueError("Name at least one image file to predict.")
    model, extra, settings = _load_classifier(checkpoint, context)
    return {str(image): predict_image(model, image, extra["class_names"], settings, k=k, context=context)
            for image in images}
