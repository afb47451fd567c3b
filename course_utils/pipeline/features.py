"""Stage 1 in one backbone pass: compute the frozen backbone's features once, train the head on them.

With a frozen backbone (冻结), the notes' stage 1 sends every image through the whole network
in every epoch, although only the small head at the end learns: ten epochs pay for ten
identical backbone passes. This module pays for one:

1. :func:`cached_features` runs the backbone once over a data set in evaluation mode, under
   ``torch.inference_mode()``, and keeps what enters the head: one feature vector per image
   (1,280 numbers for EfficientNet-Lite0). Since nothing trains in this pass, it can take
   shortcuts that training cannot: BatchNorm folded into the convolutions, ``channels_last``
   images, no autograd bookkeeping (:func:`inference_backbone`). The result is saved under
   ``data_dir()/cache/features/`` with a name (a *key*) computed from the backbone's weights,
   the image files and the transform, so the next run loads it in a second, and any change to
   those three computes it afresh.
2. :func:`fit_head` trains the model's own head on those vectors with the course's
   :func:`~course_utils.pipeline.training.fit`: an epoch over 1,000 vectors takes milliseconds.
   The head that trains *is* the model's head (the same parameters), so when it is done the
   full model is ready for stage 2, checkpoints and evaluation as if stage 1 had run on images;
   with ``checkpoint=`` a stage-1 checkpoint in ``fit``'s format is written for the full model.

What it gives up: **data augmentation** (数据增强). The notes draw a new random rotation,
flip and colour jitter of every training image in every epoch; features computed once see
one version of each image. Two ways to choose:

- compute the training features with the evaluation transform (resize, centre crop): no
  augmentation, the cheapest; with a frozen backbone and ten epochs it cost no accuracy in the
  course's measurements (benchmarks/RESULTS.md);
- pass the augmenting transform and ``views=K``: K random versions of every image are
  computed (K backbone passes) and epoch ``e`` trains on version ``e mod K``, so ten epochs
  see K different versions instead of ten.

Stage 2 (fine-tuning) changes the backbone, so there nothing can be cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from course_utils.pipeline.models import head_name
from course_utils.pipeline.training import CHECKPOINT_FORMAT, History, amp_dtype, fit
from course_utils.storage.checkpoints import load_checkpoint, save_checkpoint

__all__ = ["FeatureBatches", "FeatureSet", "HeadSplit", "cached_features", "extract_features", "feature_key",
           "fit_head", "inference_backbone", "split_head"]

CACHE_VERSION = 1
"""Part of every key: bump it when the way features are computed changes."""


# --------------------------------------------------------------------------------------
# Where the head starts
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeadSplit:
    """Where a classifier splits into backbone and head.

    ``head`` is the module that turns a feature vector into the model's output: the last
    ``Linear`` layer, or the ``Sequential(Linear, LogSoftmax)`` of the notes that holds it.
    ``dropout`` is the probability of the ``Dropout`` that the model applies to the features
    just before the head in training mode (0 when there is none): :func:`fit_head` applies the
    same dropout to the cached features, so the head trains as it would inside the model.
    """

    name: str
    head: nn.Module
    linear: nn.Linear
    dropout: float


def split_head(model: nn.Module) -> HeadSplit:
    """Find the head of ``model`` (see :class:`HeadSplit`); a clear error if it has no ``Linear`` head."""
    linear_name = head_name(model)
    linear = model.get_submodule(linear_name)
    if not isinstance(linear, nn.Linear):
        raise ValueError(
            f"The last classifier layer of {type(model).__name__} ({linear_name}) is a "
            f"{type(linear).__name__}, not a Linear layer; cached features need a model whose head is "
            "Linear (or Sequential(Linear, LogSoftmax)). Train this one with fit on images instead."
        )
    name, head = linear_name, linear
    parent_name, _, child = linear_name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else None
    if isinstance(parent, nn.Sequential) and parent_name and child == "0" and all(
            not list(m.parameters()) for m in list(parent)[1:]):
        name, head = parent_name, parent  # the notes' Sequential(Linear, LogSoftmax)
    # the layer created just before the Linear one (for most networks, the one that runs just before it)
    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]
    names = [n for n, _ in leaves]
    before = leaves[names.index(linear_name) - 1][1] if names.index(linear_name) > 0 else None
    dropout = float(before.p) if isinstance(before, nn.Dropout) else 0.0
    return HeadSplit(name=name, head=head, linear=linear, dropout=dropout)


# --------------------------------------------------------------------------------------
# Computing features
# --------------------------------------------------------------------------------------


def extract_features(
    model: nn.Module,
    loader,
    *,
    device: torch.device | str | None = None,
    channels_last: bool | None = None,
    fold_batchnorm: bool = True,
    progress: bool = True,
    desc: str = "features",
) -> tuple[torch.Tensor, torch.Tensor]:
    """One pass of ``model``'s backbone over ``loader``: ``(features (N, D) float32, labels (N,))`` on the CPU.

    The features are what enters the head (see :func:`split_head`). They are computed by
    :func:`inference_backbone`, a copy of the model without its head, in evaluation mode and
    under ``torch.inference_mode()``; on CUDA with bfloat16/float16 autocast. ``model`` itself
    is not changed. On the first batch, the model's own output for two images is compared with
    the head applied to their features: they must agree (else the backbone is rebuilt without
    BatchNorm folding and checked again; if they still disagree, the model does something
    after its head, and an error says so).
    """
    from course_utils.env import get_device

    device = get_device(prefer=str(device)) if device is not None else get_device()
    split = split_head(model)
    use_cl = device.type != "mps" if channels_last is None else bool(channels_last)
    memory_format = torch.channels_last if use_cl else torch.contiguous_format
    dtype = amp_dtype(device)
    backbone = inference_backbone(model, fold_batchnorm=fold_batchnorm).to(device, memory_format=memory_format)
    features, labels = [], []
    checked = False
    with torch.inference_mode(), tqdm(total=_length(loader), desc=desc, leave=False, disable=not progress) as bar:
        for images, targets in loader:
            images = images.to(device, non_blocking=True, memory_format=memory_format)
            if not checked:
                backbone = _checked(backbone, model, split, images[:2], memory_format)
                checked = True
            with _autocast(device, dtype):
                batch = backbone(images)
            if batch.dim() != 2:
                raise ValueError(f"The head's input has shape {tuple(batch.shape)}; expected (batch, features).")
            features.append(batch.float().to("cpu", non_blocking=True))
            labels.append(torch.as_tensor(targets).to("cpu"))
            bar.update(1)
    if not features:
        raise ValueError("The loader yielded no batches: is the data set empty?")
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return torch.cat(features), torch.cat(labels).long()


def _checked(backbone: nn.Module, model: nn.Module, split: HeadSplit, images: torch.Tensor,
             memory_format: torch.memory_format) -> nn.Module:
    """``backbone`` if the head on its features gives the model's output; else an unfolded one; else an error."""
    if _agrees(model, split, backbone, images):
        return backbone
    if any(isinstance(m, nn.BatchNorm2d) for m in model.modules()):  # folding may have misread the order
        unfolded = inference_backbone(model, fold_batchnorm=False).to(images.device, memory_format=memory_format)
        if _agrees(model, split, unfolded, images):
            return unfolded
    raise _not_after_head(split)


def _not_after_head(split: HeadSplit) -> ValueError:
    return ValueError(
        f"The model's output is not its head ({split.name}) applied to the features that enter it: the "
        "model does something after the head, which cached features cannot reproduce. Train this model "
        "with fit on images instead."
    )


def inference_backbone(model: nn.Module, *, fold_batchnorm: bool = True) -> nn.Module:
    """A copy of ``model`` in evaluation mode whose output is what enters the head (the head is an Identity).

    With ``fold_batchnorm`` every ``BatchNorm2d`` that directly follows a ``Conv2d`` is folded
    into it. In evaluation mode BatchNorm is a fixed per-channel affine map,
    ``y = (x - mean) / sqrt(var + eps) * gamma + beta``, and a convolution followed by a fixed
    affine map is again a convolution, with rescaled weights and a new bias
    (``torch.nn.utils.fusion.fuse_conv_bn_eval``): one pass over the activations instead of
    two, the same numbers up to rounding. "Directly follows" is read from the order in which
    the layers were created, which is the order they run in for most networks;
    :func:`extract_features` checks the result against the real model and folds nothing when
    they disagree.
    """
    import copy

    from torch.nn.utils.fusion import fuse_conv_bn_eval

    split = split_head(model)
    backbone = copy.deepcopy(model).eval()
    _set_submodule(backbone, split.name, nn.Identity())
    if fold_batchnorm:
        leaves = [(name, m) for name, m in backbone.named_modules() if not list(m.children())]
        for (_, conv), (bn_name, bn) in zip(leaves, leaves[1:], strict=False):
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats:
                fused = fuse_conv_bn_eval(conv, bn)
                conv.weight, conv.bias = fused.weight, fused.bias
                _set_submodule(backbone, bn_name, nn.Identity())
    for parameter in backbone.parameters():
        parameter.requires_grad_(False)
    return backbone


def _set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    if child.isdigit() and isinstance(parent, nn.Sequential):
        parent[int(child)] = module
    else:
        setattr(parent, child, module)


def _agrees(model: nn.Module, split: HeadSplit, backbone: nn.Module, images: torch.Tensor) -> bool:
    """Does the head applied to the backbone's features give the model's own output on ``images``?

    Checked in float32 (no autocast): the question is whether the two compute the same thing,
    not how precisely. Rounding (TF32 convolutions on a GPU, folding) moves outputs by far less
    than the tolerance; a missing or extra step after the features moves them by far more.
    """
    was_training, home = model.training, next(model.parameters()).device
    try:
        model.eval().to(images.device)
        expected = model(images).float()
        got = split.head(backbone(images).float()).float()
    finally:
        model.train(was_training).to(home)
    tolerance = 2e-2 * (1 + expected.abs().max().item())
    return bool(torch.allclose(got, expected, rtol=0, atol=tolerance))


# --------------------------------------------------------------------------------------
# The cache
# --------------------------------------------------------------------------------------


@dataclass
class FeatureSet:
    """Features of one data set: ``features[v, i]`` is view ``v`` of image ``i``; ``labels[i]`` its class."""

    features: torch.Tensor  # (views, N, D) float32
    labels: torch.Tensor  # (N,) int64
    key: str = ""
    path: Path | None = None
    from_cache: bool = False
    seconds: float = 0.0
    """Time spent computing (0 when loaded from the cache)."""
    waiting: float = 0.0
    """Of ``seconds``, the time spent waiting for the DataLoader (decoding and transforming images)."""

    @property
    def views(self) -> int:
        """How many versions of each image were computed (1 without augmentation)."""
        return self.features.shape[0]

    def __len__(self) -> int:
        return self.features.shape[1]

    def loader(self, batch_size: int = 256, *, shuffle: bool = False, seed: int = 0,
               device: torch.device | str | None = None) -> FeatureBatches:
        """Batches ``(features, labels)`` for :func:`fit` (see :class:`FeatureBatches`)."""
        return FeatureBatches(self, batch_size, shuffle=shuffle, seed=seed, device=device)


class FeatureBatches:
    """An iterable of ``(features, labels)`` batches, like a DataLoader over a FeatureSet.

    The tensors sit in memory (on ``device``), so a batch is a slice: no worker processes, no
    collation. Pass ``k`` uses view ``k mod views``: with ``views=K`` each epoch trains on the
    next augmented version of every image. ``generator`` is what ``fit`` reseeds every epoch.
    """

    def __init__(self, data: FeatureSet, batch_size: int, *, shuffle: bool = False, seed: int = 0,
                 device: torch.device | str | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}.")
        self.features = data.features.to(device) if device is not None else data.features
        self.labels = data.labels.to(self.features.device)
        self.batch_size, self.shuffle = batch_size, shuffle
        self.generator = torch.Generator().manual_seed(seed)
        self.passes = 0

    def __len__(self) -> int:
        return -(-self.labels.shape[0] // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        view = self.features[self.passes % self.features.shape[0]]
        self.passes += 1
        n = self.labels.shape[0]
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        order = order.to(self.features.device)
        for start in range(0, n, self.batch_size):
            index = order[start:start + self.batch_size]
            yield view[index], self.labels[index]


def feature_key(model: nn.Module, dataset, *, views: int = 1, seed: int = 0, precision: str = "fp32") -> str:
    """The cache key: a hash of everything the features depend on.

    That is the backbone's weights (every tensor of ``model.state_dict()`` except the head's,
    which stage 1 changes without changing the features), the images (relative path, class,
    size and modification time of every file of ``dataset.samples``), the transform (its
    ``repr``, which lists every setting of a torchvision transform), ``views``, ``seed`` and
    the precision of the pass.
    """
    samples = getattr(dataset, "samples", None)
    if samples is None:
        raise TypeError(
            f"A {type(dataset).__name__} has no .samples list of (path, class), so its images cannot be "
            "fingerprinted for the cache. Use an ImageFolder-like data set (FlowerFolder), or call "
            "extract_features(model, loader) and keep the tensors yourself."
        )
    split = split_head(model)
    skip = f"{split.name}."
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        if name.startswith(skip):
            continue
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    root = Path(getattr(dataset, "root", "."))
    files = []
    for path, target in samples:
        stat = os.stat(path)
        files.append([os.path.relpath(path, root), int(target), stat.st_size, stat.st_mtime_ns])
    description = {
        "version": CACHE_VERSION,
        "model": type(model).__name__,
        "backbone": digest.hexdigest(),
        "files": files,
        "transform": repr(getattr(dataset, "transform", None)),
        "views": views,
        "seed": seed,
        "precision": precision,
    }
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:24]


def cached_features(
    model: nn.Module,
    dataset,
    *,
    views: int = 1,
    batch_size: int | None = None,
    num_workers: int | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    desc: str | None = None,
) -> FeatureSet:
    """The head-input features of every image of ``dataset``, from the cache or computed once.

    ``dataset`` is an ImageFolder-like data set (``.samples``, ``.transform``): give it the
    evaluation transform for plain features, or the training (augmenting) transform with
    ``views=K`` for K random versions of each image (each pass is seeded from ``seed`` and
    the view number, so the versions can be computed again exactly). The result is stored in
    ``cache_dir`` (default ``data_dir()/cache/features``) under :func:`feature_key`, written
    atomically, and loaded with ``weights_only=True`` next time. ``batch_size`` (None: 32 on a
    CPU, 256 on CUDA) and ``num_workers`` (None: :func:`course_utils.pipeline.loaders.loader_settings`)
    change the speed, not the features.
    """
    from torch.utils.data import DataLoader

    from course_utils.env import data_dir, get_device, seed_everything
    from course_utils.pipeline.loaders import TimedLoader, loader_settings

    if not isinstance(views, int) or views < 1:
        raise ValueError(f"views must be a positive integer (1 = one version of each image), got {views!r}.")
    device = get_device(prefer=str(device)) if device is not None else get_device()
    dtype = amp_dtype(device)
    key = feature_key(model, dataset, views=views, seed=seed,
                      precision={None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype])
    folder = Path(cache_dir) if cache_dir is not None else data_dir() / "cache" / "features"
    path = folder / f"{key}.pt"
    if path.is_file():
        try:
            state = load_checkpoint(path)
            return FeatureSet(state["features"], state["labels"], key=key, path=path, from_cache=True)
        except (RuntimeError, KeyError, TypeError, pickle.UnpicklingError):  # damaged: compute it again
            pass

    if batch_size is None:  # measured: on a CPU small batches are faster per image (they stay in cache)
        batch_size = 256 if device.type == "cuda" else 32
    settings = loader_settings(device, num_workers=num_workers)
    loader = TimedLoader(DataLoader(dataset, batch_size=batch_size, shuffle=False, **settings.as_kwargs()))
    started = time.perf_counter()
    passes, labels = [], None
    for view in range(views):
        seed_everything(seed + view)
        label = desc or "features"
        features, labels = extract_features(model, loader, device=device, progress=progress,
                                            desc=f"{label} (view {view + 1}/{views})" if views > 1 else label)
        passes.append(features)
    stacked = torch.stack(passes)
    seconds = time.perf_counter() - started
    save_checkpoint(path, {"features": stacked, "labels": labels, "key": key, "views": views,
                           "num_images": len(dataset)})
    return FeatureSet(stacked, labels, key=key, path=path, from_cache=False, seconds=seconds,
                      waiting=loader.waiting)


# --------------------------------------------------------------------------------------
# Training the head on features
# --------------------------------------------------------------------------------------


def fit_head(
    model: nn.Module,
    train: FeatureSet,
    valid: FeatureSet,
    *,
    epochs: int,
    optimizer: torch.optim.Optimizer,
    scheduler: Any | None = None,
    criterion: nn.Module | None = None,
    batch_size: int = 32,
    device: torch.device | str | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_extra: dict[str, Any] | None = None,
    seed: int | None = 0,
    progress: bool = True,
    patience: int | None = None,
) -> History:
    """Stage 1 on cached features: train ``model``'s head with :func:`fit`; return its History.

    ``optimizer`` holds the head's parameters (``stage1_optimizer(model)`` with a frozen
    backbone); ``criterion``, ``scheduler``, ``epochs`` and ``batch_size`` mean what they mean
    for ``fit`` on images. The head trains in place (the same parameters as inside the model),
    behind the same dropout the model applies before it, and ends with the best epoch's
    weights (``patience``: stop when validation stops improving, as in :func:`fit`).
    ``checkpoint=`` writes one stage-1 checkpoint for the *full* model in ``fit``'s format
    (``state_dict``, ``optimizer``, ``history``, ``extra``…), so that ``stage2_optimizer`` and ``load_checkpoint`` work on it unchanged.
    """
    from course_utils.env import get_device

    device = get_device(prefer=str(device)) if device is not None else get_device()
    split = split_head(model)
    home = next(model.parameters()).device
    trainer: nn.Module = nn.Sequential(nn.Dropout(split.dropout), split.head) if split.dropout else split.head
    train_batches = train.loader(batch_size, shuffle=True, seed=seed or 0, device=device)
    valid_batches = valid.loader(max(batch_size, 256), device=device)
    history = fit(trainer, train_batches, valid_batches, epochs=epochs, optimizer=optimizer, scheduler=scheduler,
                  criterion=criterion, device=device, amp=False, channels_last=False, seed=seed,
                  progress=progress, patience=patience)
    split.head.to(home)  # fit moved the head to the training device; the backbone stayed home
    if checkpoint is not None:
        state = model.state_dict()
        save_checkpoint(checkpoint, {
            "format": CHECKPOINT_FORMAT,
            "epoch": history.epochs,
            "epochs": epochs,
            "state_dict": state,  # the best epoch's weights: fit loaded them into the head
            "best_acc": float(history.best_acc),
            "best_epoch": int(history.best_epoch),
            "last_state_dict": state,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "scaler": None,
            "history": history.to_dict(),
            "seed": seed,
            "extra": dict(checkpoint_extra or {}),
            "stage1": {"method": "cached features", "train_key": train.key, "valid_key": valid.key,
                       "views": train.views},
        })
    return history


def _autocast(device: torch.device, dtype: torch.dtype | None):
    import contextlib

    return contextlib.nullcontext() if dtype is None else torch.autocast(device_type=device.type, dtype=dtype)


def _length(loader) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None
