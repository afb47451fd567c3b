"""Hand-written digits for a first CNN: MNIST when it can be had, a generated look-alike when not.

:func:`load_digits` returns a training and a validation set of 28×28 grayscale digit images
with labels 0–9. It uses MNIST (``torchvision.datasets.MNIST``) when the files are already in
``data_dir()/"mnist"`` or can be downloaded; offline it *generates* a digit set instead: the
digits 0–9 drawn in the fonts that ship with matplotlib, each one rotated, scaled, sheared,
shifted, thickened or thinned at random, then blurred by the resampling and sprinkled with
noise. The generated set is deterministic (the same ``seed`` gives the same images) and needs
no network. Both sources end up in the same :class:`DigitImages` class, so everything after
loading runs the same code; ``digits.source`` says which one you got.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from course_utils.arguments import require_int
from course_utils.data.sources import DOWNLOAD, GENERATED, DataSource, download_or_fall_back
from course_utils.env import data_dir, is_online, stall_timeout

__all__ = [
    "DigitImages",
    "Digits",
    "digits_source",
    "generate_digits",
    "load_digits",
    "mnist_on_disk",
]

MNIST = "mnist"
SOURCES = ("auto", MNIST, GENERATED)

CLASSES = [str(d) for d in range(10)]
MNIST_SIZES = (60_000, 10_000)
"""Training and test images in MNIST; the generated set has the same sizes by default."""

MEAN, STD = 0.1307, 0.3081
"""MNIST's pixel mean and standard deviation, the usual ``Normalize`` for digits."""

# Fonts bundled with matplotlib (a course dependency), so every machine draws the same digits.
_FONT_FILES = [
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf",
    "DejaVuSansMono-BoldOblique.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf", "STIXGeneral.ttf", "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf", "cmr10.ttf", "cmb10.ttf", "cmss10.ttf",
    "cmti10.ttf", "cmtt10.ttf",
]
_CANVAS = 64  # glyphs are drawn this large, then resampled down to 28×28


class DigitImages(Dataset):
    """Grayscale digit images and their labels, held in memory as bytes.

    ``images`` is a ``uint8`` tensor ``(N, H, W)``; ``labels`` an ``int64`` tensor ``(N,)``.
    Item ``i`` is ``(image, label)`` with ``image`` a float tensor ``(1, H, W)`` in ``[0, 1]``,
    passed through ``transform`` if one is given (e.g. ``transforms.Normalize(MEAN, STD)``).
    """

    classes = CLASSES

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform: Callable | None = None):
        if images.dtype != torch.uint8 or images.dim() != 3:
            raise ValueError(f"images must be a uint8 tensor (N, H, W), got {images.dtype} {tuple(images.shape)}.")
        if labels.shape != (images.shape[0],):
            raise ValueError(f"labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}.")
        self.images = images
        self.labels = labels.long()
        self.transform = transform

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index].unsqueeze(0).float().div_(255)
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[index])

    def __repr__(self) -> str:
        h, w = self.images.shape[1:]
        return f"DigitImages({len(self)} images of 1×{h}×{w}, classes 0-9)"


@dataclass
class Digits:
    """A training set, a validation set, and where they came from."""

    train: DigitImages
    val: DigitImages
    source: DataSource
    """MNIST (a download) or the generated digits; ``str(digits.source)`` is its name."""

    def describe(self) -> str:
        """One sentence for the notebook to print."""
        return f"{self.source.description}: {len(self.train)} training and {len(self.val)} validation images"


MNIST_SOURCE = DataSource(DOWNLOAD, "MNIST", "MNIST (hand-written digits; validation = the official test set)")
GENERATED_SOURCE = DataSource(GENERATED, "generated digits", "generated digits (matplotlib's fonts under "
                              "random affine jitter and noise; offline stand-in for MNIST)")


def mnist_on_disk(root: str | Path | None = None) -> bool:
    """True when the MNIST files are already in ``root`` (default ``data_dir()/"mnist"``)."""
    raw = Path(root or data_dir() / "mnist") / "MNIST" / "raw"
    return all((raw / name).is_file() for name in
               ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))


def digits_source(source: str = "auto", root: str | Path | None = None) -> str:
    """Which source :func:`load_digits` will use: ``"mnist"`` or ``"generated"``.

    ``"auto"`` means MNIST if it is on disk or the download server answers within a few
    seconds (``is_online``; ``COURSE_OFFLINE=1`` skips the network), else the generated set.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}.")
    if source != "auto":
        return source
    if mnist_on_disk(root):
        return MNIST
    return MNIST if is_online(_mnist_host()) else GENERATED


def load_digits(
    *,
    source: str = "auto",
    train_size: int | None = None,
    val_size: int | None = None,
    transform: Callable | None = None,
    seed: int = 0,
    root: str | Path | None = None,
) -> Digits:
    """Training and validation digits (28×28, grayscale, labels 0–9).

    - ``source``: ``"auto"`` (MNIST if possible, else generated; see :func:`digits_source`),
      ``"mnist"`` (fails with a clear message when offline and not on disk) or
      ``"generated"`` (always local; use it when results must not depend on the network).
    - ``train_size``/``val_size``: take that many images (a fixed random subset for MNIST);
      None takes the full 60,000/10,000.
    - ``transform``: applied to each ``(1, 28, 28)`` float image, for both sets.
    - ``seed``: which subset, and which generated images (training and validation images are
      generated from different seeds, so they never coincide).

    With ``source="auto"``, a failed MNIST download falls back to the generated set with a
    :class:`~course_utils.data.sources.DataSourceWarning` instead of stopping the notebook.
    """
    train_size = _check_size("train_size", train_size, MNIST_SIZES[0])
    val_size = _check_size("val_size", val_size, MNIST_SIZES[1])
    chosen = digits_source(source, root)
    if source == MNIST and not mnist_on_disk(root) and not is_online(_mnist_host()):
        raise RuntimeError(
            f"source='mnist' was asked for, but MNIST is not in {Path(root or data_dir() / 'mnist')} "
            "and its download server cannot be reached. Connect once to download it, or use "
            "source='generated' (or 'auto', which falls back to it)."
        )
    if chosen == MNIST:
        if source == MNIST:
            try:
                tensors = _mnist_tensors(root, download=not mnist_on_disk(root))
            except (OSError, RuntimeError) as error:
                raise RuntimeError(
                    f"MNIST could not be loaded ({error}). Connect to the internet once (the files are "
                    f"then kept in {Path(root or data_dir() / 'mnist')}), or use source='generated'."
                ) from error
        else:
            tensors = download_or_fall_back(lambda: _mnist_tensors(root, download=not mnist_on_disk(root)),
                                            what="Loading MNIST", instead="the generated digits")
        if tensors is not None:
            (x_train, y_train), (x_val, y_val) = tensors
            g = torch.Generator().manual_seed(seed)
            train_idx = torch.randperm(len(y_train), generator=g)[:train_size]
            val_idx = torch.randperm(len(y_val), generator=g)[:val_size]
            return Digits(DigitImages(x_train[train_idx], y_train[train_idx], transform),
                          DigitImages(x_val[val_idx], y_val[val_idx], transform), MNIST_SOURCE)
    x_train, y_train = generate_digits(train_size, seed=seed)
    x_val, y_val = generate_digits(val_size, seed=seed + 1_000_003)
    return Digits(DigitImages(x_train, y_train, transform), DigitImages(x_val, y_val, transform),
                  GENERATED_SOURCE)


def generate_digits(n: int, *, seed: int = 0, size: int = 28, noise: float = 0.08) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` generated digit images (``uint8``, ``(n, size, size)``) and their labels.

    Each image: a digit (labels balanced: each digit ``n // 10`` or ``n // 10 + 1`` times) in a
    random font, drawn white on black like MNIST, thinned or thickened, then rotated
    (±15°), scaled (0.8–1.1 per axis), sheared and shifted (±2 px) by one random affine map
    applied with ``grid_sample``; finally Gaussian noise of standard deviation up to
    ``noise`` is added. The same ``seed`` gives the same images on every run.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive number of images, got {n!r}.")
    g = torch.Generator().manual_seed(seed)
    glyphs = _glyphs()  # (fonts, strokes, 10, C, C)
    n_fonts, n_strokes = glyphs.shape[:2]
    labels = torch.arange(n) % 10
    labels = labels[torch.randperm(n, generator=g)]
    images = torch.empty(n, size, size, dtype=torch.uint8)
    for start in range(0, n, 4096):
        y = labels[start:start + 4096]
        m = len(y)
        font = torch.randint(n_fonts, (m,), generator=g)
        stroke = torch.randint(n_strokes, (m,), generator=g)
        source = glyphs[font, stroke, y].unsqueeze(1)  # (m, 1, C, C)
        theta = _random_affine(m, g, size)
        grid = F.affine_grid(theta, [m, 1, size, size], align_corners=False)
        out = F.grid_sample(source, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        sigma = torch.rand(m, 1, 1, 1, generator=g) * noise
        out = out + sigma * torch.randn(out.shape, generator=g)
        images[start:start + m] = out.squeeze(1).clamp_(0, 1).mul_(255).round_().to(torch.uint8)
    return images, labels


def _random_affine(m: int, g: torch.Generator, size: int) -> torch.Tensor:
    """(m, 2, 3) maps from output to glyph coordinates: rotation, scale, shear, shift."""

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(m, generator=g)

    angle = uniform(-15, 15) * math.pi / 180
    scale_x, scale_y = uniform(0.8, 1.1), uniform(0.8, 1.1)
    shear = uniform(-0.25, 0.25)
    shift_x, shift_y = uniform(-2, 2) * 2 / size, uniform(-2, 2) * 2 / size
    cos, sin = torch.cos(angle), torch.sin(angle)
    # forward map A = R · Sh · S; affine_grid wants its inverse (output -> input)
    a = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    sh = torch.zeros(m, 2, 2)
    sh[:, 0, 0] = sh[:, 1, 1] = 1
    sh[:, 0, 1] = shear
    s = torch.diag_embed(torch.stack([scale_x, scale_y], -1))
    forward = a @ sh @ s
    inverse = torch.linalg.inv(forward)
    shift = torch.stack([shift_x, shift_y], -1).unsqueeze(-1)
    return torch.cat([inverse, -inverse @ shift], dim=-1)


_GLYPH_CACHE: dict[int, torch.Tensor] = {}


def _glyphs() -> torch.Tensor:
    """Every digit in every bundled font, at three stroke widths: (fonts, 3, 10, C, C) in [0, 1]."""
    if _CANVAS in _GLYPH_CACHE:
        return _GLYPH_CACHE[_CANVAS]
    fonts = _fonts()
    drawn = torch.stack([torch.stack([_draw(font, str(d)) for d in range(10)]) for font in fonts])
    x = drawn.flatten(0, 1).unsqueeze(1)  # (fonts*10, 1, C, C)
    thin = -F.max_pool2d(-x, 3, stride=1, padding=1)
    thick = F.max_pool2d(x, 5, stride=1, padding=2)
    strokes = torch.stack([thin, x, thick], dim=1).squeeze(2)  # (fonts*10, 3, C, C)
    glyphs = strokes.unflatten(0, (len(fonts), 10)).transpose(1, 2).contiguous()
    _GLYPH_CACHE[_CANVAS] = glyphs
    return glyphs


def _fonts() -> list[Any]:
    from PIL import ImageFont

    try:
        import matplotlib

        folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    except ImportError:  # pragma: no cover - matplotlib is a course dependency
        folder = Path()
    fonts: list[Any] = [ImageFont.truetype(str(folder / name), 48) for name in _FONT_FILES
                        if (folder / name).is_file()]
    if not fonts:  # pragma: no cover - only without matplotlib's fonts
        fonts = [ImageFont.load_default(size=48)]
    return fonts


def _draw(font, text: str) -> torch.Tensor:
    """One glyph, white on black, its ink box scaled into the central 20/28 of the canvas."""
    from PIL import Image, ImageDraw

    big = Image.new("L", (96, 96), 0)
    ImageDraw.Draw(big).text((48, 48), text, fill=255, font=font, anchor="mm")
    box = big.getbbox()
    glyph = big.crop(box)
    target = round(_CANVAS * 20 / 28)
    w, h = glyph.size
    factor = target / max(w, h)
    glyph = glyph.resize((max(1, round(w * factor)), max(1, round(h * factor))), Image.Resampling.LANCZOS)
    canvas = Image.new("L", (_CANVAS, _CANVAS), 0)
    canvas.paste(glyph, ((_CANVAS - glyph.size[0]) // 2, (_CANVAS - glyph.size[1]) // 2))
    return torch.frombuffer(bytearray(canvas.tobytes()), dtype=torch.uint8).view(_CANVAS, _CANVAS).float() / 255


def _mnist_host() -> str:
    from urllib.parse import urlparse

    from torchvision.datasets import MNIST as TorchvisionMNIST

    return urlparse(TorchvisionMNIST.mirrors[0]).hostname or "ossci-datasets.s3.amazonaws.com"


def _mnist_tensors(root: str | Path | None, download: bool):
    from torchvision.datasets import MNIST as TorchvisionMNIST

    folder = Path(root or data_dir() / "mnist")
    with stall_timeout():
        train = TorchvisionMNIST(str(folder), train=True, download=download)
        test = TorchvisionMNIST(str(folder), train=False, download=download)
    return (train.data, train.targets), (test.data, test.targets)


def _check_size(name: str, value: int | None, default: int) -> int:
    """A number of images, or ``default`` (all of them) for None."""
    return default if value is None else require_int(name, value)

