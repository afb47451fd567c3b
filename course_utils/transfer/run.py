"""The whole recipe in one call: :func:`run_transfer`, the one orchestrator of the two stages.

Read it top to bottom: find the flowers, build the data sets, build the pretrained model, train
stage 1 (:func:`~course_utils.transfer.stages.train_stage1`), then stage 2
(:func:`~course_utils.transfer.stages.train_stage2`), then measure the test split once. The
command line (``python -m course_utils train``), the benchmark, the tests and notebook 06's
"the whole recipe in one call" cell all call this function; notebook 06 also runs the same
stages one cell at a time, to show each.

Under ``torchrun`` every process calls it with the same arguments: rank 0 prepares the data and
computes stage 1 on cached features alone (once; the others wait and then read its checkpoint),
stage 2 (and stage 1 on images) trains as ``DistributedDataParallel`` on sharded data, the
processes check they agree on settings and files before training and on the weights after, and
rank 0 alone writes and prints.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

import course_utils
from course_utils.context import RunContext
from course_utils.data.flowers import (
    FlowerFolder,
    FlowerSource,
    choose_flowers,
    find_flowers,
    flower_datasets,
    load_class_names,
)
from course_utils.data.transforms import TransformSettings, eval_transform, train_transform
from course_utils.env import shown_path
from course_utils.models.build import build_model
from course_utils.storage.cache import cache_key, run_folder
from course_utils.storage.checkpoints import TrainingState
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
from course_utils.transfer.recipe import TransferConfig, model_card
from course_utils.transfer.stages import finished, skip_stage2, train_stage1, train_stage2

__all__ = ["TransferReport", "capstone_config", "capstone_folder", "capstone_transfer", "flowers_identity", "run_transfer"]


@dataclass
class TransferReport:
    """What :func:`run_transfer` did: both histories, the model, its classes and preprocessing,
    the weights' digest (equal on every process), the test accuracy, the seconds each part took."""

    stage1: History
    stage2: History
    model: nn.Module
    class_names: list[str]
    settings: TransformSettings
    out_dir: Path
    weights: str
    world_size: int = 1
    test_accuracy: float | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def run_transfer(folder: FlowerSource | str | Path | None, config: TransferConfig, out_dir: str | Path, *,
                 context: RunContext, data: str = "auto", synthetic_size: int = 160,
                 synthetic_per_class: tuple[int, int, int] = (30, 10, 10), resume: bool = False,
                 compile: bool = False) -> TransferReport:
    """Stage 1, stage 2 and one test measurement, with checkpoints ``stage1.pt`` and ``stage2.pt`` in ``out_dir``.

    - ``folder``: flowers in the notes' layout (a path or a :class:`FlowerSource`); None: what
      :func:`~course_utils.data.flowers.choose_flowers` finds for ``data`` (``"auto"``,
      ``"download"`` or ``"synthetic"``, drawn at ``synthetic_size`` px, ``synthetic_per_class``).
    - ``resume``: keep a finished stage 1 and continue stage 2 from its last finished epoch, on
      any number of processes. ``compile``: ``torch.compile`` the model for stage 2.
    - ``config.batch_size`` is the global batch (all processes together). ``out_dir`` and the data
      must be on a file system every process sees.
    """
    out = Path(out_dir)
    stage1_path, stage2_path = out / "stage1.pt", out / "stage2.pt"
    seconds: dict[str, float] = {}
    with distributed_job(context):
        started = time.perf_counter()
        with _rank0_first(context):  # a download or a drawing happens once, by rank 0
            source = folder if isinstance(folder, FlowerSource) else choose_flowers(
                folder, data, context=context, synthetic_size=synthetic_size, synthetic_per_class=synthetic_per_class)
        assert source.root is not None
        settings = config.transform_settings()
        sets = flower_datasets(source.root, train_transform(settings), eval_transform(settings),
                               max_per_class=config.limits())
        stage1_sets = dict(sets)
        if not config.stage1_augment:
            stage1_sets["train"] = copy.copy(sets["train"])  # the same images, un-augmented (no second scan)
            stage1_sets["train"].transform = eval_transform(settings)
        class_names = list(sets["train"].class_names)
        extra = {**model_card(config.model_name, sets["train"], settings), "data_root": str(source.root)}
        stage1_done = resume and finished(stage1_path, config.stage1_epochs, config.stage1_patience)
        check_agreement(context, {"config": asdict(config), "files": _file_list(sets), "classes": class_names,
                                  "resume": resume, "stage1 finished": stage1_done, "compile": compile,
                                  "course_utils": course_utils.__version__, "torch": torch.__version__})
        _say(context, f"{source.description}: {', '.join(f'{s} {len(d)}' for s, d in sets.items())} images, "
                      f"{len(class_names)} classes")
        _say(context, f"{context.describe()}; {context.world_size} process(es), global batch {config.batch_size}")
        _say(context, f"recipe: {config}")

        torch.manual_seed(config.seed)
        with _rank0_first(context):  # torchvision weights are downloaded once, by rank 0
            model = build_model(config.model_name, len(class_names), feature_extract=True, context=context)
        seconds["data and model"] = time.perf_counter() - started

        started = time.perf_counter()
        if stage1_done:
            stage1 = History.from_dict(TrainingState.load(stage1_path).history)
            _say(context, f"stage 1: finished in {shown_path(stage1_path)}, not trained again")
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
            _say(context, "stage 2: not run (stage2_epochs 0); the result is stage 1's best epoch")

        digests = gather_objects(context, weights_digest(model.state_dict()))
        if len(set(digests)) != 1:
            raise RuntimeError(f"The processes ended with different weights (digests {digests}): "
                               "DistributedDataParallel should have kept them equal. Please report this.")
        _say(context, f"weights: {digests[0]} on {len(digests)} process(es), identical")
        report = TransferReport(stage1, stage2, model, class_names, settings, out, digests[0], context.world_size,
                                seconds=seconds)
        if "test" in loaders and len(sets["test"]):  # the one measurement on photos no choice has seen
            started = time.perf_counter()
            report.test_accuracy = evaluate(model, loaders["test"], criterion=nn.NLLLoss(), context=context)[1]
            seconds["test"] = time.perf_counter() - started
            _say(context, f"test: accuracy {report.test_accuracy:.3f} ({len(sets['test'])} images)")
        _say(context, f"checkpoints: {shown_path(stage1_path)}"
                      + (f", {shown_path(stage2_path)}" if config.stage2_epochs else ""))
    return report


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


def _file_list(sets: dict[str, FlowerFolder]) -> dict[str, list[Any]]:
    """Per split, every image's path (relative to its split), size and class: what ranks must share."""
    return {split: [[str(Path(path).relative_to(ds.root)), Path(path).stat().st_size, target]
                    for path, target in ds.samples] for split, ds in sets.items()}


# Notebook 06's run, which notebook 08 reuses --------------------------------------------------------


def capstone_config(context: RunContext) -> TransferConfig:
    """Notebook 06's recipe: :class:`TransferConfig`'s defaults (the chosen recipe), smaller in fast mode.

    The photos are resized to the crop (``resize_to=image_size``): the whole shorter side is kept (the
    real subset's photos are as small as the crop; the notes' 256-then-224 would cut an eighth away).
    """
    config = TransferConfig()
    config = context.pick(full=config, fast=replace(config, image_size=64, batch_size=16, max_per_class=2,
                                                    stage1_epochs=4, stage1_patience=2, stage2_epochs=1))
    return replace(config, resize_to=config.image_size)


def capstone_folder(source: FlowerSource, config: TransferConfig, context: RunContext) -> Path:
    """``data_dir/runs/06-flowers-<key>``: the run's folder, named after what the run depends on.

    The key hashes the data source (its kind, and every image's path and size), its class list
    (ids and names), the model and the recipe (:func:`course_utils.storage.cache.run_folder`): switching
    the flowers or the recipe starts a new run in a new folder, and switching back finds the old one.
    """
    return run_folder(context.data_dir, "06-flowers", {**flowers_identity(source), "model": config.model_name,
                                                       "recipe": asdict(config)})


def flowers_identity(source: FlowerSource) -> dict[str, Any]:
    """What a run depends on in the flowers: the source's kind, every image's path and size (hashed), the
    class list (ids and names). A run folder named after it changes when the flowers change."""
    assert source.root is not None
    root = Path(source.root)
    files = [[path.relative_to(root).as_posix(), path.stat().st_size]
             for split in ("train", "valid", "test") if (root / split).is_dir()
             for path in sorted((root / split).rglob("*")) if path.is_file()]
    return {"source": source.kind, "files": cache_key({"files": files}), "classes": load_class_names(root)}


def capstone_transfer(context: RunContext, source: FlowerSource | None = None) -> TransferReport:
    """Notebook 06's whole recipe in one call, resumed: what notebook 08 calls to reuse 06's model.

    It finds the flowers (``source``: :func:`~course_utils.data.flowers.find_flowers` by default), takes
    :func:`capstone_config` and :func:`capstone_folder`, and calls :func:`run_transfer` with
    ``resume=True``. The first call trains stage 1 and stage 2 there; a later call with the same flowers,
    classes, model and recipe finds both stages finished and trains nothing (it measures the test split
    again). ``report.model`` is the fine-tuned model, its best epoch loaded.
    """
    source = source if source is not None else find_flowers(context=context)
    config = capstone_config(context)
    return run_transfer(source, config, capstone_folder(source, config, context), context=context, resume=True)
