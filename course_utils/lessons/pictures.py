"""Pictures for the lessons: a real photograph that works offline, and drawings of what 01–05 compute.

The photograph is Grace Hopper's portrait that ships with matplotlib, so every notebook
has the same real image without a download. Tensors are ``(C, H, W)`` with values in
``[0, 1]``, as torchvision uses them. Every helper draws into matplotlib and returns the
figure or axes; end the notebook cell with ``plt.show()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import cbook
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image
from torch import Tensor

from course_utils.arguments import require_int
from course_utils.lessons.conv import ConvGeometry
from course_utils.lessons.receptive_field import FieldTable

__all__ = [
    "SAMPLE_PHOTO",
    "draw_receptive_fields",
    "draw_values",
    "draw_windows",
    "load_sample_photo",
    "show_feature_maps",
    "show_image",
    "show_images",
    "to_gray",
]

SAMPLE_PHOTO = "grace_hopper.jpg"
"""A portrait photograph in matplotlib's sample data (512 wide, 600 high)."""


def load_sample_photo(size: int | None = 256, name: str = SAMPLE_PHOTO) -> Tensor:
    """Load a photograph from matplotlib's sample data as a float ``(3, H, W)`` tensor in [0, 1].

    ``size`` resizes it so that its shorter side has ``size`` pixels (``None`` keeps it as is).
    """
    if size is not None:
        require_int("size", size)
    if not isinstance(name, str):
        raise TypeError(f"name must be a file name such as {SAMPLE_PHOTO!r}, got {name!r}.")
    path = Path(cbook.get_sample_data(name, asfileobj=False))
    if not path.is_file():
        raise FileNotFoundError(
            f"matplotlib's sample image {name!r} is not at {path}. {SAMPLE_PHOTO!r} ships with "
            f"matplotlib: reinstall it with `pip install --force-reinstall matplotlib`."
        )
    image = Image.open(path).convert("RGB")
    if size is not None:
        scale = size / min(image.size)
        width, height = (round(side * scale) for side in image.size)
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def to_gray(image: Tensor) -> Tensor:
    """An RGB ``(3, H, W)`` image as one gray channel ``(1, H, W)`` (ITU-R 601 luma weights)."""
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"to_gray() wants an RGB image (3, H, W), got shape {tuple(image.shape)}.")
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=image.dtype).view(3, 1, 1)
    return (image * weights).sum(dim=0, keepdim=True)


def _as_picture(x: Tensor) -> np.ndarray:
    x = x.detach().float().cpu()
    if x.dim() == 3 and x.shape[0] == 1:
        x = x[0]
    if x.dim() == 3 and x.shape[0] == 3:
        return x.clamp(0, 1).permute(1, 2, 0).numpy()
    if x.dim() != 2:
        raise ValueError(
            f"Cannot show a tensor of shape {tuple(x.shape)}: give (H, W), (1, H, W) or (3, H, W)."
        )
    return x.numpy()


def show_image(
    image: Tensor,
    title: str | None = None,
    ax: Axes | None = None,
    cmap: str = "gray",
    vmin: float | None = None,
    vmax: float | None = None,
) -> Axes:
    """Show one image: RGB ``(3, H, W)`` in colour, a single map ``(H, W)``/``(1, H, W)`` in gray.

    A single map is stretched from its own minimum (black) to its maximum (white), unless
    ``vmin``/``vmax`` fix the scale (to compare several maps fairly).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(3, 3))
    ax.imshow(_as_picture(image), cmap=cmap, vmin=vmin, vmax=vmax)
    if title:
        ax.set_title(title, fontsize=10)
    ax.axis("off")
    return ax


def show_images(
    images: Sequence[Tensor],
    titles: Sequence[str] | None = None,
    ncols: int = 4,
    size: float = 2.0,
    cmap: str = "gray",
    vmin: float | None = None,
    vmax: float | None = None,
) -> Figure:
    """Show several images side by side (``ncols`` per row), each with an optional title.

    Give ``vmin`` and ``vmax`` to draw single maps on one shared scale.
    """
    if len(images) == 0:
        raise ValueError("show_images() needs at least one image.")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"Got {len(images)} images but {len(titles)} titles.")
    ncols = min(ncols, len(images))
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for index, ax in enumerate(axes.flat):
        if index < len(images):
            title = titles[index] if titles else None
            show_image(images[index], title, ax=ax, cmap=cmap, vmin=vmin, vmax=vmax)
        else:
            ax.axis("off")
    fig.tight_layout()
    return fig


def show_feature_maps(
    maps: Tensor, titles: Sequence[str] | None = None, ncols: int = 4, size: float = 2.0
) -> Figure:
    """Show every feature map of a stack ``(K, H, W)`` (or a batch of one) in gray."""
    if maps.dim() == 4 and maps.shape[0] == 1:
        maps = maps[0]
    if maps.dim() != 3:
        raise ValueError(f"Feature maps must be (K, H, W) or (1, K, H, W), got {tuple(maps.shape)}.")
    if titles is None:
        titles = [f"feature map {k}" for k in range(maps.shape[0])]
    return show_images(list(maps), titles, ncols=ncols, size=size)


def draw_values(
    values: Tensor,
    ax: Axes | None = None,
    title: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
) -> Axes:
    """Draw a small 2-D tensor as a grid with each number written in its cell.

    The shade follows the value; give ``vmin``/``vmax`` to shade several grids on one scale.
    """
    if values.dim() != 2:
        raise ValueError(f"draw_values() wants a 2-D tensor, got shape {tuple(values.shape)}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(3, 3))
    grid = values.detach().float().cpu()
    low = float(grid.min()) if vmin is None else vmin
    high = float(grid.max()) if vmax is None else vmax
    ax.imshow(grid.numpy(), cmap="Blues", vmin=low, vmax=high + 0.5 * (high - low))  # text stays legible
    integers = bool((grid == grid.round()).all())
    for (row, col), value in np.ndenumerate(grid.numpy()):
        ax.text(col, row, f"{value:.0f}" if integers else f"{value:.2f}", ha="center", va="center")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def draw_windows(geometry: ConvGeometry, ax: Axes | None = None) -> Axes:
    """Draw where a kernel goes on a square input, from a :class:`~course_utils.lessons.conv.ConvGeometry`.

    White cells are the input, gray cells the zero padding, red-hatched cells are never used.
    The first window's taps are filled blue, the next window along the row is outlined in
    orange (the stride is the step between them), and a dot marks the centre of every window:
    one dot per output number.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    n, pad = geometry.padded_size, geometry.padding
    usage = geometry.usage(include_padding=True)
    for row in range(n):
        for col in range(n):
            inside = pad <= row < pad + geometry.size and pad <= col < pad + geometry.size
            colour = "white" if inside else "0.85"
            ax.add_patch(Rectangle((col, row), 1, 1, facecolor=colour, edgecolor="0.6"))
            if usage[row, col] == 0:
                ax.add_patch(Rectangle((col, row), 1, 1, fill=False, edgecolor="red", hatch="///"))
    taps = geometry.window_taps(0)
    for row in taps:
        for col in taps:
            ax.add_patch(Rectangle((col, row), 1, 1, facecolor="tab:blue", alpha=0.45))
    span = geometry.effective_kernel_size
    ax.add_patch(Rectangle((0, 0), span, span, fill=False, edgecolor="tab:blue", linewidth=2.5))
    if geometry.output_size > 1:
        ax.add_patch(
            Rectangle(
                (geometry.stride, 0), span, span, fill=False, edgecolor="tab:orange",
                linewidth=2.5, linestyle="--",
            )
        )
    centres = [start + span / 2 for start in geometry.window_starts()]
    xs, ys = np.meshgrid(centres, centres)
    ax.plot(xs.ravel(), ys.ravel(), "k.", markersize=5)
    ax.set_xlim(0, n)
    ax.set_ylim(n, 0)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    title = f"{geometry.size}×{geometry.size} → {geometry.output_size}×{geometry.output_size}"
    if not geometry.is_exact:
        title = f"{title} (floored: red cells unused)"
    ax.set_title(title, fontsize=10, color="black" if geometry.is_exact else "red")
    return ax


def draw_receptive_fields(table: FieldTable, ax: Axes | None = None) -> Axes:
    """Nested squares on a pixel grid: the field of one unit after each layer, the largest last.

    Returns the matplotlib axes; end the notebook cell with ``plt.show()``.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    side = table.receptive_field + 2
    ax.set_xlim(0, side)
    ax.set_ylim(side, 0)
    if side <= 40:
        for k in range(side + 1):
            ax.axhline(k, color="0.85", lw=0.5)
            ax.axvline(k, color="0.85", lw=0.5)
    sizes = [("input pixel", 1)] + [(r.name, r.receptive_field) for r in table]
    colours = plt.cm.viridis([i / len(sizes) for i in range(len(sizes))])
    for (name, rf), colour in zip(reversed(sizes), reversed(colours), strict=True):
        corner = (side - rf) / 2
        ax.add_patch(
            Rectangle(
                (corner, corner),
                rf,
                rf,
                facecolor=colour,
                alpha=0.3,
                edgecolor=colour,
                lw=2,
                label=f"{name}: {rf}×{rf}",
            )
        )
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"receptive field: {table.receptive_field}×{table.receptive_field} input pixels")
    return ax
