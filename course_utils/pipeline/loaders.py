"""Getting images to the model fast: DataLoader settings for this machine, and where the time goes.

Every training step needs a batch of images, and making one costs work on the CPU: read
the file, decode the JPEG, resize, augment, convert to a tensor. With ``num_workers=0`` (the
notes' DataLoader) that work happens in the training process, between steps, while the model
waits. This module answers three questions:

- :func:`loader_settings`: how many worker processes, and whether to pin memory, on this
  machine and device;
- :func:`time_image_pipeline`: how long decoding, resizing and the rest of the transform take
  per image, measured separately (if decoding large JPEGs dominates, a pre-resized copy helps:
  :mod:`course_utils.storage.resized_cache`);
- :class:`TimedLoader`: how much of a training run is spent *waiting* for the next batch.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["ImageTiming", "LoaderSettings", "TimedLoader", "cpu_count", "loader_settings", "time_image_pipeline"]


def cpu_count() -> int:
    """The CPU cores this process may use (its affinity, which containers restrict), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS and Windows have no affinity call
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class LoaderSettings:
    """The DataLoader arguments that decide speed (not results)."""

    num_workers: int
    pin_memory: bool
    persistent_workers: bool
    prefetch_factor: int | None

    def as_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``DataLoader(...)``."""
        kwargs: dict[str, Any] = {"num_workers": self.num_workers, "pin_memory": self.pin_memory}
        if self.num_workers > 0:
            kwargs["persistent_workers"] = self.persistent_workers
            kwargs["prefetch_factor"] = self.prefetch_factor
        return kwargs


def loader_settings(device: torch.device | str | None = None, *, num_workers: int | None = None) -> LoaderSettings:
    """DataLoader settings sized to this machine.

    - **workers**: on CUDA the CPU only prepares data, so up to 8 workers (one core is left
      for the training process). On the CPU, the model's own arithmetic already uses every
      core, so a worker takes a core from it: one worker per four cores, at least one when
      there are two cores or more, so that decoding overlaps with computing. In fast mode
      (``COURSE_FAST=1``), 0: starting processes costs more than a tiny run saves.
    - **pin_memory** only with CUDA: page-locked memory lets ``.to(device, non_blocking=True)``
      copy while the GPU computes; without a GPU it is wasted work.
    - **persistent_workers**: keep the workers alive between epochs instead of starting them
      again (and re-importing everything) every epoch.
    """
    from course_utils.env import fast_mode, get_device

    device = get_device(prefer=str(device)) if device is not None else get_device()
    cores = cpu_count()
    if num_workers is None:
        if fast_mode():
            num_workers = 0
        elif device.type == "cuda":
            num_workers = min(8, max(1, cores - 1))
        else:
            num_workers = min(4, cores // 4) or (1 if cores >= 2 else 0)
    if num_workers < 0:
        raise ValueError(f"num_workers must be 0 or more, got {num_workers}.")
    return LoaderSettings(
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=num_workers > 0,
        prefetch_factor=4 if num_workers > 0 else None,
    )


# --------------------------------------------------------------------------------------
# Where the data time goes
# --------------------------------------------------------------------------------------


@dataclass
class ImageTiming:
    """Median milliseconds per image for each step of the data pipeline."""

    decode_ms: float
    """Open the file and decode it into RGB pixels."""
    resize_ms: float
    """The transform's first ``Resize`` on the decoded image."""
    transform_ms: float
    """The whole transform (resize included) on the decoded image."""
    source_shorter_side: int
    """The median shorter side of the files, in pixels."""
    images: int

    @property
    def total_ms(self) -> float:
        """Decode plus transform: the CPU time one image costs a DataLoader."""
        return self.decode_ms + self.transform_ms

    def summary(self) -> str:
        return (f"decode {self.decode_ms:.2f} ms + resize {self.resize_ms:.2f} ms + rest of transform "
                f"{self.transform_ms - self.resize_ms:.2f} ms per image (median of {self.images}; files' "
                f"shorter side {self.source_shorter_side} px)")


def time_image_pipeline(dataset, n: int = 32) -> ImageTiming:
    """Time decoding, resizing and the whole transform separately on ``n`` images of ``dataset``.

    ``dataset`` is ImageFolder-like (``.samples``, ``.transform``, ``.loader``). Each step is
    timed on its own so you can see which one to attack: decoding large files (pre-resize them
    once), or augmentation (fewer or cheaper steps, more workers).
    """
    from PIL import Image

    samples = getattr(dataset, "samples", None)
    if not samples:
        raise ValueError("time_image_pipeline needs an ImageFolder-like data set with a non-empty .samples list.")
    transform = getattr(dataset, "transform", None)
    resize = _first_resize(transform)
    step = max(1, len(samples) // n)
    decode, resized, whole, sides = [], [], [], []
    for path, _ in samples[::step][:n]:
        started = time.perf_counter()
        with Image.open(path) as file:
            image = file.convert("RGB")
        decode.append(time.perf_counter() - started)
        sides.append(min(image.size))
        if resize is not None:
            started = time.perf_counter()
            resize(image)
            resized.append(time.perf_counter() - started)
        if transform is not None:
            started = time.perf_counter()
            transform(image)
            whole.append(time.perf_counter() - started)
    ms = lambda values: 1000 * statistics.median(values) if values else 0.0  # noqa: E731
    return ImageTiming(decode_ms=ms(decode), resize_ms=ms(resized), transform_ms=ms(whole),
                       source_shorter_side=int(statistics.median(sides)), images=len(decode))


def _first_resize(transform):
    from torchvision import transforms as T

    steps = getattr(transform, "transforms", [transform])
    return next((s for s in steps if isinstance(s, T.Resize)), None)


@dataclass
class PassTiming:
    """One pass over a loader (one phase of one epoch)."""

    seconds: float = 0.0
    waiting: float = 0.0
    """Seconds spent inside ``next()``: waiting for the loader to hand over a batch."""
    images: int = 0


@dataclass
class TimedLoader:
    """Wrap a loader to measure how long training waits for data; it yields the same batches.

    ``timed.passes`` lists one :class:`PassTiming` per pass (per ``for`` loop over it). The
    wrapper forwards every other attribute (``dataset``, ``generator``…) to the loader, so
    ``fit`` and the notes' loop use it unchanged. On a GPU the time inside ``next()`` is what
    the CPU waits, which the GPU may partly hide, so read it as an upper bound there.
    """

    loader: Any
    passes: list[PassTiming] = field(default_factory=list)

    def __iter__(self) -> Iterator[Any]:
        record = PassTiming()
        self.passes.append(record)
        started = time.perf_counter()
        iterator = iter(self.loader)
        record.waiting += time.perf_counter() - started
        try:
            while True:
                before = time.perf_counter()
                try:
                    batch = next(iterator)
                except StopIteration:
                    record.waiting += time.perf_counter() - before
                    return
                record.waiting += time.perf_counter() - before
                first = batch[0] if isinstance(batch, (tuple, list)) else batch
                record.images += len(first)
                yield batch
        finally:
            record.seconds = time.perf_counter() - started

    def __len__(self) -> int:
        return len(self.loader)

    def __getattr__(self, name: str) -> Any:
        if name in {"loader", "passes"}:  # not set yet (during copy/pickle): no recursion
            raise AttributeError(name)
        return getattr(self.loader, name)

    @property
    def seconds(self) -> float:
        return sum(p.seconds for p in self.passes)

    @property
    def waiting(self) -> float:
        return sum(p.waiting for p in self.passes)

    @property
    def images(self) -> int:
        return sum(p.images for p in self.passes)
