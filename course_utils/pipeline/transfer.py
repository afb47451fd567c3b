"""The notes' two-stage transfer learning, as small steps and as one function.

Stage 1 (feature extraction): the pretrained backbone is frozen (冻结), only the new head
trains, with Adam and a step learning-rate decay (学习率衰减, ``StepLR``).

Stage 2 (fine-tuning): the best stage-1 checkpoint is loaded (weights *and* optimizer),
the backbone is unfrozen (its BatchNorm layers keep their pretrained statistics), and
training continues with a lower learning rate, so that the pretrained weights are
adjusted rather than destroyed.

The notebook (06) walks through these steps one cell at a time; :func:`run_transfer`
chains them for the tests and the benchmark.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from course_utils.data.flowers import FlowerFolder, FlowerSource, flower_datasets, flower_loaders
from course_utils.data.transforms import TransformSettings, eval_transform, train_transform
from course_utils.pipeline.features import cached_features, fit_head
from course_utils.pipeline.models import build_model, head_parameters, preprocessing_for, unfreeze
from course_utils.pipeline.training import History, fit
from course_utils.storage.checkpoints import check_compatible, load_checkpoint


def checkpoint_extra(model_name: str, train_set: FlowerFolder, settings: TransformSettings) -> dict[str, Any]:
    """What a checkpoint needs beyond weights to be used later: model, classes, preprocessing."""
    return {
        "model_name": model_name,
        "num_classes": len(train_set.classes),
        "class_names": list(train_set.class_names),
        "class_to_idx": dict(train_set.class_to_idx),
        "transform": settings.to_dict(),
    }


Optimizers = tuple[torch.optim.Adam, torch.optim.lr_scheduler.StepLR]


def stage1_optimizer(model: nn.Module, *, lr: float = 1e-3, step_size: int = 7, gamma: float = 0.1) -> Optimizers:
    """Adam on the trainable parameters (the head, when the backbone is frozen) and StepLR."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ValueError("No parameter of this model requires a gradient: nothing would train.")
    optimizer = torch.optim.Adam(trainable, lr=lr)
    return optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma)


def stage2_optimizer(
    model: nn.Module,
    stage1_checkpoint: str | Path,
    *,
    lr: float = 1e-4,
    step_size: int = 7,
    gamma: float = 0.1,
    model_name: str | None = None,
    class_names: list[str] | None = None,
) -> Optimizers:
    """Load the best stage-1 weights and optimizer, unfreeze the backbone, lower the learning rate.

    The stage-1 optimizer only knew the head's parameters, so it is rebuilt over the head,
    its saved state (Adam's running averages) is loaded, and the unfrozen backbone joins
    as a second parameter group. Both groups then use ``lr``. BatchNorm layers stay frozen
    (see :func:`course_utils.pipeline.models.unfreeze`). Returns (optimizer, StepLR).
    """
    state = load_checkpoint(stage1_checkpoint)
    check_compatible(state, model_name=model_name, class_names=class_names)
    model.load_state_dict(state["state_dict"])  # the best epoch's weights
    head = list(head_parameters(model))
    optimizer = torch.optim.Adam(head)
    optimizer.load_state_dict(state["optimizer"])  # the head's Adam state from stage 1
    backbone = unfreeze(model)
    for group in optimizer.param_groups:
        group["lr"] = lr
        group.pop("initial_lr", None)  # let the new scheduler start from the new rate
    optimizer.add_param_group({"params": backbone, "lr": lr})
    return optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma)


@dataclass
class TransferConfig:
    """The settings of one transfer-learning run."""

    model_name: str = "efficientnet_lite0"
    image_size: int = 160
    resize_to: int | None = None  # see TransformSettings.resize
    # Stage 1 on un-augmented images (the eval transform), as on cached features: with a frozen
    # backbone and few epochs, augmentation cost accuracy on the real subset (README, "Flowers-102
    # results"). Stage 2 always trains on augmented images.
    stage1_augment: bool = False
    # Stage 1 on the frozen backbone's features, computed once and cached (course_utils.pipeline.features),
    # instead of a full backbone pass over every image in every epoch (the notes' way, False).
    stage1_features: bool = True
    batch_size: int = 32
    stage1_epochs: int = 6
    # Early stopping for stage 1: stop once this many epochs bring no better validation accuracy
    # (the best epoch is kept; stage1_epochs is then a ceiling). On cached features an epoch costs
    # milliseconds, so the head can train until validation says stop. None: exactly stage1_epochs.
    stage1_patience: int | None = None
    stage2_epochs: int = 6  # 3 ended below stage 1 on the real subset; 6 (lr / 10 after 4) above it
    stage1_lr: float = 3e-3
    stage2_lr: float = 1e-4
    step_size: int = 4
    gamma: float = 0.1
    seed: int = 0
    max_per_class: int | dict[str, int] | None = None
    num_workers: int | None = None
    device: str | None = None
    progress: bool = True


@dataclass
class TransferResult:
    """What a run produced: both histories, test metrics (if there is a test split), times."""

    stage1: History
    stage2: History
    model: nn.Module
    class_names: list[str]
    settings: TransformSettings
    test_accuracy: float | None = None
    test_top5: float | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def run_transfer(source: FlowerSource | str | Path, out_dir: str | Path,
                 config: TransferConfig | None = None) -> TransferResult:
    """Stage 1, stage 2 and a test evaluation, with checkpoints in ``out_dir``.

    Stage 1 trains the head on the backbone's features, computed once and cached
    (:mod:`course_utils.pipeline.features`), unless ``config.stage1_features`` is False: then it runs
    the backbone over the images in every epoch, as the notes do. Either way ``stage1.pt``
    is a full-model checkpoint that stage 2 starts from.
    """
    config = config or TransferConfig()
    if config.stage1_features and config.stage1_augment:
        raise ValueError("stage1_augment=True needs stage1_features=False: cached features are computed "
                         "once, from un-augmented images (course_utils.pipeline.features can cache augmented views).")
    from course_utils.pipeline.evaluation import predict

    out_dir = Path(out_dir)
    mean, std = preprocessing_for(config.model_name)
    settings = TransformSettings(image_size=config.image_size, mean=mean, std=std, resize_to=config.resize_to)
    sets = flower_datasets(source, train_transform(settings), eval_transform(settings),
                           max_per_class=config.max_per_class)
    loaders = flower_loaders(sets, batch_size=config.batch_size, num_workers=config.num_workers, seed=config.seed)
    plain_train = copy.copy(sets["train"])  # the same training images, un-augmented (no second scan)
    plain_train.transform = eval_transform(settings)
    train_set = sets["train"]
    extra = checkpoint_extra(config.model_name, train_set, settings)
    nll = nn.NLLLoss()
    seconds = {}

    torch.manual_seed(config.seed)
    model = build_model(config.model_name, len(train_set.classes), feature_extract=True)
    optimizer, scheduler = stage1_optimizer(model, lr=config.stage1_lr, step_size=config.step_size,
                                            gamma=config.gamma)
    started = time.perf_counter()
    stage1_args = dict(epochs=config.stage1_epochs, optimizer=optimizer, scheduler=scheduler, criterion=nll,
                       device=config.device, checkpoint=out_dir / "stage1.pt", checkpoint_extra=extra,
                       seed=config.seed, progress=config.progress, patience=config.stage1_patience)
    if config.stage1_features:
        features = {split: cached_features(model, dataset, batch_size=config.batch_size,
                                           num_workers=config.num_workers, device=config.device,
                                           progress=config.progress, desc=f"{split} features")
                    for split, dataset in (("train", plain_train), ("valid", sets["valid"]))}
        stage1 = fit_head(model, features["train"], features["valid"], batch_size=config.batch_size,
                          **stage1_args)
    else:
        stage1_train = loaders["train"]
        if not config.stage1_augment:
            stage1_train = flower_loaders({"train": plain_train}, batch_size=config.batch_size,
                                          num_workers=config.num_workers, seed=config.seed)["train"]
        stage1 = fit(model, stage1_train, loaders["valid"], **stage1_args)
    seconds["stage1"] = time.perf_counter() - started

    optimizer, scheduler = stage2_optimizer(model, out_dir / "stage1.pt", lr=config.stage2_lr,
                                            step_size=config.step_size, gamma=config.gamma,
                                            model_name=config.model_name, class_names=train_set.class_names)
    started = time.perf_counter()
    stage2 = fit(model, loaders["train"], loaders["valid"], epochs=config.stage2_epochs, optimizer=optimizer,
                 scheduler=scheduler, criterion=nll, device=config.device, checkpoint=out_dir / "stage2.pt",
                 checkpoint_extra=extra, seed=config.seed, progress=config.progress)
    seconds["stage2"] = time.perf_counter() - started

    result = TransferResult(stage1, stage2, model, list(train_set.class_names), settings, seconds=seconds)
    if "test" in loaders and len(sets["test"]):
        started = time.perf_counter()
        predictions = predict(model, loaders["test"], device=config.device)
        result.test_accuracy, result.test_top5 = predictions.accuracy(), predictions.topk_accuracy(5)
        seconds["test"] = time.perf_counter() - started
    return result


def main(argv: list[str] | None = None) -> TransferResult:
    """``python -m course_utils.pipeline.transfer [FOLDER]``: one full run, printed (the README's figures)."""
    import argparse
    import platform

    from course_utils.data.flowers import find_flowers
    from course_utils.env import data_dir

    defaults = TransferConfig()
    parser = argparse.ArgumentParser(prog="python -m course_utils.pipeline.transfer", description=main.__doc__)
    parser.add_argument("folder", nargs="?", help="flowers in the notes' layout (default: find_flowers())")
    parser.add_argument("--model", default=defaults.model_name)
    parser.add_argument("--image-size", type=int, default=defaults.image_size)
    parser.add_argument("--resize-to", type=int, default=None, help="shorter side before the crop")
    parser.add_argument("--stage1-on-images", action="store_true",
                        help="stage 1 the notes' way: a backbone pass over the images every epoch")
    parser.add_argument("--stage1-augment", action="store_true",
                        help="stage 1 on augmented images (needs --stage1-on-images)")
    parser.add_argument("--stage1-epochs", type=int, default=defaults.stage1_epochs)
    parser.add_argument("--stage1-patience", type=int, default=defaults.stage1_patience,
                        help="stop stage 1 after this many epochs without a better validation accuracy")
    parser.add_argument("--max-per-class", type=int, default=None,
                        help="at most this many training images per class (valid and test stay whole)")
    parser.add_argument("--stage2-epochs", type=int, default=defaults.stage2_epochs)
    parser.add_argument("--stage1-lr", type=float, default=defaults.stage1_lr)
    parser.add_argument("--stage2-lr", type=float, default=defaults.stage2_lr)
    parser.add_argument("--step-size", type=int, default=defaults.step_size)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--out", default=str(data_dir() / "runs" / "transfer"))
    args = parser.parse_args(argv)
    source = find_flowers(args.folder)
    config = TransferConfig(model_name=args.model, image_size=args.image_size, resize_to=args.resize_to,
                            stage1_augment=args.stage1_augment,
                            stage1_features=not args.stage1_on_images, batch_size=args.batch_size,
                            stage1_epochs=args.stage1_epochs, stage2_epochs=args.stage2_epochs,
                            stage1_patience=args.stage1_patience,
                            max_per_class=None if args.max_per_class is None else {"train": args.max_per_class},
                            stage1_lr=args.stage1_lr, stage2_lr=args.stage2_lr, step_size=args.step_size)
    print(f"{source.description}: {source.splits}; {config}")
    result = run_transfer(source, args.out, config)
    print(f"machine: {platform.platform()}, {torch.get_num_threads()} threads, device "
          f"{result.stage1.device}")
    print(f"stage 1: {result.stage1.summary()} ({result.seconds['stage1']:.0f}s)")
    print(f"stage 2: {result.stage2.summary()} ({result.seconds['stage2']:.0f}s)")
    if result.test_accuracy is not None:
        print(f"test: accuracy {result.test_accuracy:.3f}, top-5 {result.test_top5:.3f}")
    return result


if __name__ == "__main__":
    main()
