"""Stage 1 in one backbone pass: compute the frozen backbone's features once, train the head on them.

With a frozen backbone (冻结), the notes' stage 1 sends every image through the whole network
in every epoch, although only the small head at the end learns: ten epochs pay for ten
identical backbone passes. This module pays for one:

1. :func:`cached_features` runs the backbone once over a data set in evaluation mode, under
   ``torch.inference_mode()``, and keeps what enters the head: one feature vector per image
   (1,280 numbers for EfficientNet-Lite0). Since nothing trains in this pass, it can take
   shortcuts that training cannot: BatchNorm folded into the convolutions, ``channels_last``
   images, no autograd bookkeeping (:mod:`course_utils.models.backbone`). The result is saved under
   ``data_dir()/cache/features/`` with a name (a *key*) computed from the backbone's weights,
   the image files and the transform, so the next run loads it in a second, and any change to
   those three computes it afresh.
2. :func:`fit_head` trains the model's own head on those vectors with the course's
   :func:`~course_utils.training.loop.fit`: an epoch over 1,000 vectors takes milliseconds.
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

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from course_utils.context import RunContext
from course_utils.env import seed_everything
from course_utils.models.backbone import checked_backbone, inference_backbone
from course_utils.models.forward import forward, place
from course_utils.models.heads import head_module, head_of
from course_utils.storage.cache import cache_key, cached_tensors, file_fingerprints
from course_utils.training.batches import batches_in
from course_utils.training.history import History
from course_utils.training.loop import fit
from course_utils.training.resume import training_state

__all__ = ["FeatureBatches", "FeatureSet", "cached_features", "extract_features", "feature_key", "fit_head"]

CACHE_VERSION = 1
"""Part of every key: bump it when the way features are computed changes."""


def extract_features(
    model: nn.Module,
    loader,
    *,
    context: RunContext,
    fold_batchnorm: bool = True,
    progress: bool = True,
    desc: str = "features",
) -> tuple[torch.Tensor, torch.Tensor]:
    """One pass of ``model``'s backbone over ``loader``: ``(features (N, D) float32, labels (N,))`` on the CPU.

    The features are what enters the head that :func:`~course_utils.models.build.build_model`
    recorded. They are computed by :func:`~course_utils.models.backbone.inference_backbone`, a
    copy of the model without its head, in evaluation mode and under ``torch.inference_mode()``,
    at the context's device, layout and precision (:mod:`course_utils.models.forward`). ``model``
    itself is not changed. On the first batch the backbone is checked against the model
    (:func:`~course_utils.models.backbone.checked_backbone`).
    """
    backbone = inference_backbone(model, fold_batchnorm=fold_batchnorm)
    layout = place(backbone, context)
    features, labels = [], []
    checked = False
    with torch.inference_mode(), context.progress_bar(total=batches_in(loader), desc=desc, leave=False,
                                                      disable=not progress) as bar:
        for images, targets in loader:
            if not checked:
                backbone = checked_backbone(backbone, model, images[:2], context, layout)
                checked = True
            batch = forward(backbone, images, context, layout)
            if batch.dim() != 2:
                raise ValueError(f"The head's input has shape {tuple(batch.shape)}; expected (batch, features).")
            features.append(batch.float().to("cpu", non_blocking=True))
            labels.append(torch.as_tensor(targets).to("cpu"))
            bar.update(1)
    if not features:
        raise ValueError("The loader yielded no batches: is the data set empty?")
    if context.device.type == "cuda":
        torch.cuda.synchronize(context.device)
    return torch.cat(features), torch.cat(labels).long()


# The cache -----------------------------------------------------------------------------


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
    cold_seconds: float | None = None
    """Time the features took when they were computed, now or by an earlier run (None: an older
    cache file that did not record it): what a fair comparison counts, even when they were cached."""

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
    import hashlib

    samples = getattr(dataset, "samples", None)
    if samples is None:
        raise TypeError(
            f"A {type(dataset).__name__} has no .samples list of (path, class), so its images cannot be "
            "fingerprinted for the cache. Use an ImageFolder-like data set (FlowerFolder), or call "
            "extract_features(model, loader) and keep the tensors yourself."
        )
    skip = f"{head_of(model).name}."
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        if not name.startswith(skip):
            digest.update(name.encode())
            digest.update(tensor.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    files = file_fingerprints([path for path, _ in samples], getattr(dataset, "root", "."))
    return cache_key({
        "version": CACHE_VERSION,
        "model": type(model).__name__,
        "backbone": digest.hexdigest(),
        "files": [[*fingerprint, int(target)] for fingerprint, (_, target) in zip(files, samples, strict=True)],
        "transform": repr(getattr(dataset, "transform", None)),
        "views": views,
        "seed": seed,
        "precision": precision,
    })


def cached_features(
    model: nn.Module,
    dataset,
    *,
    views: int = 1,
    batch_size: int | None = None,
    seed: int = 0,
    context: RunContext,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    desc: str | None = None,
) -> FeatureSet:
    """The head-input features of every image of ``dataset``, from the cache or computed once.

    ``dataset`` is an ImageFolder-like data set (``.samples``, ``.transform``): give it the
    evaluation transform for plain features, or the training (augmenting) transform with
    ``views=K`` for K random versions of each image (each pass is seeded from ``seed`` and
    the view number, so the versions can be computed again exactly). The result is stored in
    ``cache_dir`` (default ``<data folder>/cache/features``) under :func:`feature_key`, written
    atomically, and loaded with ``weights_only=True`` next time; a damaged file is computed
    again. ``batch_size`` (None: 32 on a CPU, 256 on CUDA) and the context's DataLoader workers
    change the speed, not the features.
    """
    from torch.utils.data import DataLoader

    if not isinstance(views, int) or views < 1:
        raise ValueError(f"views must be a positive integer (1 = one version of each image), got {views!r}.")
    key = feature_key(model, dataset, views=views, seed=seed, precision=context.precision)
    folder = Path(cache_dir) if cache_dir is not None else context.data_dir / "cache" / "features"
    if batch_size is None:  # measured: on a CPU small batches are faster per image (they stay in cache)
        batch_size = 256 if context.device.type == "cuda" else 32
    seconds = 0.0

    def compute() -> dict[str, Any]:
        nonlocal seconds
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, **context.loader_kwargs())
        started = time.perf_counter()
        passes, labels = [], None
        for view in range(views):
            seed_everything(seed + view)
            label = desc or "features"
            features, labels = extract_features(model, loader, context=context, progress=progress,
                                                desc=f"{label} (view {view + 1}/{views})" if views > 1 else label)
            passes.append(features)
        seconds = time.perf_counter() - started
        return {"features": torch.stack(passes), "labels": labels, "key": key, "views": views,
                "num_images": len(dataset), "seconds": seconds}

    path = folder / f"{key}.pt"
    state, from_cache = cached_tensors(path, compute)
    cold = state.get("seconds")
    return FeatureSet(state["features"], state["labels"], key=key, path=path, from_cache=from_cache,
                      seconds=seconds, cold_seconds=float(cold) if cold is not None else None)


# Training the head on features ---------------------------------------------------------


def fit_head(
    model: nn.Module,
    train: FeatureSet,
    valid: FeatureSet,
    *,
    context: RunContext,
    batch_size: int = 32,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_extra: dict[str, Any] | None = None,
    **training: Any,
) -> History:
    """Stage 1 on cached features: train ``model``'s head with :func:`fit`; return its History.

    ``training`` are :func:`fit`'s own options, passed on unchanged: ``epochs`` and
    ``optimizer`` (over the head's parameters, ``stage1_optimizer(model, config)`` with a frozen
    backbone), and ``scheduler``, ``criterion``, ``seed``, ``patience``, ``progress`` if you wish.
    The head trains in place (the same parameters as inside the model), behind the same dropout
    the model applies before it, on batches of ``batch_size`` features, and ends with the best
    epoch's weights. ``checkpoint=`` writes one stage-1 :class:`TrainingState` for the *full*
    model, so that ``stage2_optimizer`` and ``load_checkpoint`` work on it unchanged.
    """
    if "epochs" not in training or "optimizer" not in training:
        raise TypeError("fit_head needs epochs= and optimizer=, as fit does.")
    head, dropout = head_module(model), head_of(model).dropout
    home = next(model.parameters()).device
    trainer: nn.Module = nn.Sequential(nn.Dropout(dropout), head) if dropout else head
    seed = training.setdefault("seed", 0)
    train_batches = train.loader(batch_size, shuffle=True, seed=seed or 0, device=context.device)
    valid_batches = valid.loader(max(batch_size, 256), device=context.device)
    # the head is one Linear layer on float32 features: no mixed precision, no memory layout
    head_context = replace(context, precision="fp32", channels_last=False)
    history = fit(trainer, train_batches, valid_batches, context=head_context, **training)
    head.to(home)  # fit moved the head to the training device; the backbone stayed home
    if checkpoint is not None:
        state = model.state_dict()  # the best epoch's weights: fit loaded them into the head
        training_state(epoch=history.epochs, epochs=training["epochs"], history=history, best_state=state,
                       last_state=state, optimizer=training["optimizer"], scheduler=training.get("scheduler"),
                       seed=seed, extra=checkpoint_extra,
                       stage1={"method": "cached features", "train_key": train.key, "valid_key": valid.key,
                               "views": train.views}).save(checkpoint)
    return history
