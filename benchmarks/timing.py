"""Where a benchmark's time goes: waiting for batches, decoding, resizing.

- :func:`time_image_pipeline`: how long decoding, resizing and the rest of the transform take
  per image, measured separately (if decoding large JPEGs dominates, a pre-resized copy helps:
  :mod:`benchmarks.resized_cache`);
- :class:`TimedLoader`: how much of a training run is spent *waiting* for the next batch.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ImageTiming", "PassTiming", "TimedLoader", "time_image_pipeline"]



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
