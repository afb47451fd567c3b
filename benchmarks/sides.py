"""The two sides of the benchmark, stage by stage: the notes' loop and the course's path.

Each function trains for real and returns a :class:`SideResult`. Both sides of a stage get
the same images (the same file lists), model, optimizer settings, batch size and epochs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from benchmarks import baseline
from benchmarks.measure import PeakMemory
from benchmarks.timing import TimedLoader
from course_utils.data.flowers import FlowerFolder, flower_loaders, load_class_names
from course_utils.data.transforms import TransformSettings, eval_transform, train_transform
from course_utils.env import RunContext, run_context, seed_everything
from course_utils.models.build import build_model
from course_utils.models.registry import OFFLINE_MODEL, preprocessing_for
from course_utils.training.loop import evaluate
from course_utils.transfer.recipe import TransferConfig, model_card, stage1_optimizer
from course_utils.transfer.stages import train_stage1, train_stage2


@dataclass
class Config:
    """Settings shared by both sides."""

    image_size: int = 96
    batch_size: int = 32
    stage1_epochs: int = 10
    stage2_epochs: int = 1
    stage1_lr: float = 1e-3
    stage2_lr: float = 1e-4
    seed: int = 0
    views: int = 0
    compile: bool = False
    train_batchnorm: bool = False
    preresize: str = "auto"
    context: RunContext = field(default_factory=lambda: run_context(device="cpu"))
    progress: bool = True

    @property
    def device(self) -> torch.device:
        return self.context.device

    def recipe(self) -> TransferConfig:
        """The course's recipe with the benchmark's numbers (the notes' StepLR(7, 0.1), no early stop)."""
        return TransferConfig(model_name=OFFLINE_MODEL, image_size=self.image_size, batch_size=self.batch_size,
                              stage1_epochs=self.stage1_epochs, stage2_epochs=self.stage2_epochs,
                              stage1_lr=self.stage1_lr, stage2_lr=self.stage2_lr, step_size=7, gamma=0.1,
                              stage2_batchnorm=self.train_batchnorm, seed=self.seed)

    @property
    def settings(self) -> TransformSettings:
        return self.recipe().transform_settings()


@dataclass
class BenchData:
    """One data set, reduced to fixed lists of files so that both sides see the same images."""

    name: str
    root: Path
    train: list[tuple[str, int]]
    valid: list[tuple[str, int]]
    classes: list[str]
    class_names: list[str]

    def relocated(self, root: Path) -> BenchData:
        """The same files in a copy of the folder (the pre-resized cache)."""
        move = lambda samples: [(str(root / Path(p).relative_to(self.root)), t) for p, t in samples]  # noqa: E731
        return replace(self, root=root, train=move(self.train), valid=move(self.valid))


def bench_data(name: str, root: Path, max_per_class: tuple[int | None, int | None] = (None, None)) -> BenchData:
    """The training and validation files of a folder in the notes' layout, at most N per class."""
    names = load_class_names(root)
    train = FlowerFolder(root / "train", names=names, max_per_class=max_per_class[0])
    valid = FlowerFolder(root / "valid", classes=train.classes, names=names, max_per_class=max_per_class[1])
    return BenchData(name, root, list(train.samples), list(valid.samples), list(train.classes),
                     list(train.class_names))


def course_datasets(data: BenchData, train_tf, valid_tf) -> dict[str, FlowerFolder]:
    """FlowerFolders over exactly ``data``'s files."""
    names = load_class_names(data.root)
    sets = {}
    for split, samples, tf in (("train", data.train, train_tf), ("valid", data.valid, valid_tf)):
        folder = FlowerFolder(data.root / split, tf, classes=data.classes, names=names)
        folder.samples = folder.imgs = list(samples)
        folder.targets = [t for _, t in samples]
        sets[split] = folder
    return sets


@dataclass
class SideResult:
    """One side of one stage."""

    side: str
    stage: str
    seconds: float
    image_epochs: int
    """Images processed: (training + validation images) × epochs, what the notes' loop touches."""
    val_acc: float
    waiting: float = 0.0
    train_images: int = 0
    train_seconds: float = 0.0
    peak_host: int = 0
    peak_cuda: int = 0
    peak_reset: bool = True
    detail: str = ""

    @property
    def images_per_second(self) -> float:
        return self.image_epochs / self.seconds if self.seconds > 0 else 0.0

    @property
    def train_images_per_second(self) -> float:
        return self.train_images / self.train_seconds if self.train_seconds > 0 else 0.0

    @property
    def waiting_fraction(self) -> float:
        return self.waiting / self.seconds if self.seconds > 0 else 0.0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _finish(result: SideResult, peak: PeakMemory) -> SideResult:
    peak.stop()
    result.peak_host, result.peak_cuda, result.peak_reset = peak.host_bytes, peak.cuda_bytes, peak.reset
    return result


# --------------------------------------------------------------------------------------
# The notes' side
# --------------------------------------------------------------------------------------


@dataclass
class BaselineState:
    model: nn.Module
    loaders: dict
    checkpoint: Path


def baseline_stage1(data: BenchData, cfg: Config, workdir: Path) -> tuple[SideResult, BaselineState]:
    """The notes: frozen backbone, new head, ``train_model`` for ``stage1_epochs`` on images."""
    seed_everything(cfg.seed)
    mean, std = preprocessing_for(OFFLINE_MODEL)
    tfs = baseline.notes_transforms(cfg.image_size, mean, std)
    _, dataloaders = baseline.notes_dataloaders(str(data.root), tfs, batch_size=cfg.batch_size,
                                                samples={"train": data.train, "valid": data.valid})
    timed = {phase: TimedLoader(loader) for phase, loader in dataloaders.items()}
    model, optimizer, scheduler, criterion = baseline.stage1_setup(len(data.classes), lr=cfg.stage1_lr)
    checkpoint = workdir / "notes-stage1.pth"
    peak = PeakMemory(cfg.device).start()
    started = time.perf_counter()
    model, val_acc_history, *_ = baseline.train_model(model, timed, criterion, optimizer, scheduler, cfg.device,
                                                      num_epochs=cfg.stage1_epochs, filename=str(checkpoint))
    result = _notes_result("stage 1", data, cfg.stage1_epochs, started, val_acc_history, timed, cfg,
                           f"{cfg.stage1_epochs} epochs × full backbone forward on augmented images")
    return _finish(result, peak), BaselineState(model, dataloaders, checkpoint)


def baseline_stage2(data: BenchData, cfg: Config, workdir: Path, state: BaselineState) -> SideResult:
    """The notes' fine-tuning: every layer trains, Adam(lr=1e-4), ``train_model`` again."""
    seed_everything(cfg.seed)
    model = state.model
    optimizer, scheduler = baseline.stage2_setup(model, state.checkpoint, lr=cfg.stage2_lr)
    timed = {phase: TimedLoader(loader) for phase, loader in state.loaders.items()}
    peak = PeakMemory(cfg.device).start()
    started = time.perf_counter()
    _, val_acc_history, *_ = baseline.train_model(model, timed, nn.NLLLoss(), optimizer, scheduler, cfg.device,
                                                  num_epochs=cfg.stage2_epochs,
                                                  filename=str(workdir / "notes-stage2.pth"))
    result = _notes_result("stage 2", data, cfg.stage2_epochs, started, val_acc_history, timed, cfg,
                           "fp32, default memory format, num_workers=0")
    return _finish(result, peak)


def _notes_result(stage: str, data: BenchData, epochs: int, started: float, val_acc_history: list,
                  timed: dict[str, TimedLoader], cfg: Config, detail: str) -> SideResult:
    """What the notes' loop measured in one stage (after waiting for the device to finish)."""
    _sync(cfg.device)
    seconds = time.perf_counter() - started
    return SideResult(
        "notes loop", stage, seconds, (len(data.train) + len(data.valid)) * epochs,
        val_acc=max(float(a) for a in val_acc_history), waiting=sum(t.waiting for t in timed.values()),
        train_images=timed["train"].images, train_seconds=timed["train"].seconds, detail=detail,
    )


# --------------------------------------------------------------------------------------
# The course's side
# --------------------------------------------------------------------------------------


@dataclass
class CourseState:
    model: nn.Module
    checkpoint: Path
    extra: dict


def course_stage1(data: BenchData, cfg: Config, workdir: Path, cache_dir: Path, *,
                  label: str = "course", check: bool = False) -> tuple[SideResult, CourseState]:
    """The course's stage 1 (:func:`~course_utils.transfer.stages.train_stage1`): features once, then the head."""
    seed_everything(cfg.seed)
    settings = cfg.settings
    sets = course_datasets(data, eval_transform(settings), eval_transform(settings))
    model = build_model(OFFLINE_MODEL, len(data.classes), feature_extract=True, context=cfg.context)
    extra = model_card(OFFLINE_MODEL, sets["train"], settings)
    checkpoint = workdir / f"{label.replace(' ', '-').replace(',', '')}-stage1.pt"
    cached_before = set(cache_dir.glob("*.pt"))
    peak = PeakMemory(cfg.device).start()
    started = time.perf_counter()
    history = train_stage1(model, sets, checkpoint, cfg.recipe(), context=cfg.context, extra=extra,
                           cache_dir=cache_dir)
    _sync(cfg.device)
    seconds = time.perf_counter() - started
    head = sum(history.epoch_seconds)
    from_cache = not (set(cache_dir.glob("*.pt")) - cached_before)
    result = SideResult(
        label, "stage 1", seconds, (len(data.train) + len(data.valid)) * cfg.stage1_epochs,
        val_acc=history.best_acc, train_images=len(data.train) + len(data.valid), train_seconds=seconds - head,
        detail="features loaded from the cache" if from_cache else
        f"one backbone pass {seconds - head:.1f} s + head {head:.1f} s",
    )
    result = _finish(result, peak)
    if check:  # outside the timing: the full model, head put back, on the validation images
        loader = torch.utils.data.DataLoader(sets["valid"], batch_size=64)
        _, accuracy = evaluate(model, loader, criterion=nn.NLLLoss(), context=cfg.context)
        result.detail += f"; full model on validation images: acc {accuracy:.3f}"
    return result, CourseState(model, checkpoint, extra)


def course_stage1_views(data: BenchData, cfg: Config, workdir: Path, cache_dir: Path) -> SideResult:
    """Stage 1 on ``cfg.views`` cached *augmented* versions of every training image."""
    from course_utils.transfer.features import cached_features, fit_head

    seed_everything(cfg.seed)
    settings = cfg.settings
    sets = course_datasets(data, train_transform(settings), eval_transform(settings))
    model = build_model(OFFLINE_MODEL, len(data.classes), feature_extract=True, context=cfg.context)
    optimizer, scheduler = stage1_optimizer(model, cfg.recipe())
    peak = PeakMemory(cfg.device).start()
    started = time.perf_counter()
    train = cached_features(model, sets["train"], views=cfg.views, seed=cfg.seed, context=cfg.context,
                            cache_dir=cache_dir, progress=cfg.progress, desc="augmented train features")
    valid = cached_features(model, sets["valid"], seed=cfg.seed, context=cfg.context, cache_dir=cache_dir,
                            progress=cfg.progress, desc="valid features")
    history = fit_head(model, train, valid, epochs=cfg.stage1_epochs, optimizer=optimizer, scheduler=scheduler,
                       criterion=nn.NLLLoss(), batch_size=cfg.batch_size, context=cfg.context, seed=cfg.seed,
                       progress=False)
    _sync(cfg.device)
    seconds = time.perf_counter() - started
    result = SideResult(
        f"course, {cfg.views} augmented views", "stage 1", seconds,
        (len(data.train) + len(data.valid)) * cfg.stage1_epochs, val_acc=history.best_acc,
        detail=f"{cfg.views} backbone passes over augmented training images"
        + (" (validation features from the cache)" if valid.from_cache else ""),
    )
    return _finish(result, peak)


def course_stage2(data: BenchData, cfg: Config, workdir: Path, state: CourseState) -> SideResult:
    """The course's stage 2 (:func:`~course_utils.transfer.stages.train_stage2`): fit with the run context's
    workers, ``channels_last`` and mixed precision where they pay, no host syncs."""
    seed_everything(cfg.seed)
    settings = cfg.settings
    sets = course_datasets(data, train_transform(settings), eval_transform(settings))
    loaders = flower_loaders(sets, batch_size=cfg.batch_size, seed=cfg.seed, context=cfg.context)
    timed = {split: TimedLoader(loader) for split, loader in loaders.items()}
    peak = PeakMemory(cfg.device).start()
    started = time.perf_counter()
    history = train_stage2(state.model, timed, state.checkpoint, workdir / "course-stage2.pt", cfg.recipe(),
                           context=cfg.context, extra=state.extra, class_names=data.class_names,
                           compile=cfg.compile)
    _sync(cfg.device)
    seconds = time.perf_counter() - started
    result = SideResult(
        "course", "stage 2", seconds, (len(data.train) + len(data.valid)) * cfg.stage2_epochs,
        val_acc=history.best_acc, waiting=sum(t.waiting for t in timed.values()),
        train_images=timed["train"].images, train_seconds=timed["train"].seconds,
        detail=f"{history.precision}, {'channels_last' if cfg.context.channels_last else 'default memory format'}, "
               f"num_workers={cfg.context.num_workers}{', torch.compile' if cfg.compile else ''}, "
               + ("BatchNorm trains, as in the notes" if cfg.train_batchnorm
                  else "BatchNorm kept frozen (course_utils.models.heads.unfreeze)"),
    )
    return _finish(result, peak)
