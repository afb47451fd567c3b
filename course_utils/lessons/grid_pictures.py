"""Windows on pixel grids, input and output side by side: the notes' lost figures of 01 and 02.

Each drawing puts the input grid next to what comes out of it, with the numbers the lessons
compute (``conv_geometry``, ``F.pad``, ``pool2d_by_hand``), so a change to the arithmetic redraws
the picture:

- :func:`draw_stride_steps`: a 3×3 kernel on a 7×7 input at stride 1 and at stride 2, and the
  5×5 and 3×3 outputs, the first two windows and the two numbers they give in matching colours;
- :func:`draw_padding`: a 5×5 input and the same input with a ring of zeros, 7×7;
- :func:`draw_max_pooling`: 2×2 max pooling with stride 2, each window and its output in one
  colour, the largest number of each window circled, next to average pooling.

Each returns the ``Figure``; end the notebook cell with ``plt.show()``.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Rectangle
from torch import Tensor

from course_utils.arguments import require_int
from course_utils.lessons.conv import conv_geometry
from course_utils.lessons.pictures import draw_windows
from course_utils.lessons.pooling import pool2d_by_hand

__all__ = ["draw_max_pooling", "draw_padding", "draw_stride_steps", "grid_cells"]

_WINDOW_COLOURS = ["#9ecae1", "#fdae6b", "#a1d99b", "#bcbddc", "#fdd0a2", "#c7e9c0", "#dadaeb", "#fcbba1"]


def _grid(ax: Axes, rows: int, cols: int, gid: str, fill: Sequence[Sequence[str]] | None = None,
          text: np.ndarray | None = None, fontsize: float = 10, extent: int | None = None) -> None:
    """A ``rows``×``cols`` grid of square cells (each a patch with ``gid``), optionally filled and
    numbered; row 0 at the top. ``extent``: centre it in a square of that many cells, so that
    grids of different sizes side by side have cells of one size."""
    for row in range(rows):
        for col in range(cols):
            colour = fill[row][col] if fill is not None else "white"
            ax.add_patch(Rectangle((col, row), 1, 1, facecolor=colour, edgecolor="0.55", gid=gid))
            if text is not None:
                value = text[row, col]
                shown = f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"
                ax.text(col + 0.5, row + 0.5, shown, ha="center", va="center", fontsize=fontsize)
    extent = max(rows, cols, extent or 0)
    left, top = (extent - cols) / 2, (extent - rows) / 2
    ax.set_xlim(-left - 0.05, cols + left + 0.05)
    ax.set_ylim(rows + top + 0.05, -top - 0.05)
    ax.set_aspect("equal")
    ax.axis("off")


def grid_cells(ax: Axes, gid: str) -> int:
    """How many cells were drawn with ``gid`` on ``ax`` (what the tests compare with the arithmetic)."""
    return sum(1 for p in ax.patches if p.get_gid() == gid)


def draw_stride_steps(size: int = 7, kernel_size: int = 3, strides: Sequence[int] = (1, 2)) -> Figure:
    """For each stride: the windows on the input (:func:`~course_utils.lessons.pictures.draw_windows`)
    and the output grid, its first two numbers coloured like the two windows that give them."""
    if not strides:
        raise ValueError("give at least one stride, e.g. strides=(1, 2).")
    fig, axes = plt.subplots(len(strides), 2, figsize=(6.4, 3.2 * len(strides)), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1]})
    for (left, right), stride in zip(axes, strides, strict=True):
        geometry = conv_geometry(size, kernel_size, stride)
        draw_windows(geometry, ax=left)
        left.set_title(f"stride {stride}: {size}×{size} input, {kernel_size}×{kernel_size} kernel", fontsize=10)
        n = geometry.output_size
        fill = [["white"] * n for _ in range(n)]
        fill[0][0] = "tab:blue"
        if n > 1:
            fill[0][1] = "tab:orange"
        _grid(right, n, n, gid="output", fill=fill, extent=geometry.padded_size)
        right.set_title(f"output {n}×{n}: one number per window", fontsize=10)
    fig.tight_layout()
    return fig


def draw_padding(size: int = 5, padding: int = 1) -> Figure:
    """The input ``1 … size²`` (row by row) and the same input zero-padded, as ``F.pad`` makes it."""
    require_int("size", size, 1)
    require_int("padding", padding, 0)
    values = torch.arange(1, size * size + 1, dtype=torch.float32).view(size, size)
    padded = F.pad(values, (padding,) * 4)
    side = conv_geometry(size, 1, padding=padding).padded_size
    if tuple(padded.shape) != (side, side):
        raise AssertionError(f"F.pad gave {tuple(padded.shape)}, the formula H1 + 2P = {side}.")
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.2, 3.6))
    _grid(left, size, size, gid="input", text=values.numpy(), extent=side)
    left.set_title(f"input {size}×{size}", fontsize=10)
    ring = [["0.85" if not (padding <= r < padding + size and padding <= c < padding + size) else "white"
             for c in range(side)] for r in range(side)]
    _grid(right, side, side, gid="padded", fill=ring, text=padded.numpy())
    right.set_title(f"padding {padding}: {side}×{side}, zeros (gray) around it", fontsize=10)
    fig.tight_layout()
    return fig


def draw_max_pooling(x: Tensor, kernel_size: int = 2, stride: int | None = None) -> Figure:
    """A small map ``(H, W)``, its max pooling and its average pooling, each window in its colour.

    The windows must not overlap (``stride >= kernel_size``), so that each cell has one colour;
    the largest number of each window is circled: it is the one max pooling keeps.
    """
    stride = kernel_size if stride is None else stride
    if x.dim() != 2:
        raise ValueError(f"draw_max_pooling() wants one map (H, W), got shape {tuple(x.shape)}.")
    if stride < kernel_size:
        raise ValueError(f"the windows overlap (stride {stride} < window {kernel_size}): one colour "
                         f"per cell is impossible; use stride >= kernel_size.")
    pooled = {mode: pool2d_by_hand(x, kernel_size, stride, mode) for mode in ("max", "avg")}
    rows, cols = pooled["max"].shape
    height, width = x.shape
    fill = [["white"] * width for _ in range(height)]
    out_fill = [["white"] * cols for _ in range(rows)]
    fig, axes = plt.subplots(1, 3, figsize=(9.6, 3.4))
    for i in range(rows):
        for j in range(cols):
            colour = _WINDOW_COLOURS[(i * cols + j) % len(_WINDOW_COLOURS)]
            out_fill[i][j] = colour
            for r in range(i * stride, i * stride + kernel_size):
                for c in range(j * stride, j * stride + kernel_size):
                    fill[r][c] = colour
    _grid(axes[0], height, width, gid="input", fill=fill, text=x.numpy())
    for i in range(rows):
        for j in range(cols):
            window = x[i * stride : i * stride + kernel_size, j * stride : j * stride + kernel_size]
            r, c = divmod(int(window.argmax()), kernel_size)
            axes[0].add_patch(Circle((j * stride + c + 0.5, i * stride + r + 0.5), 0.38, fill=False,
                                     edgecolor="black", linewidth=1.6, gid="maximum"))
    axes[0].set_title(f"input {height}×{width}: {rows * cols} windows {kernel_size}×{kernel_size}, "
                      f"stride {stride}", fontsize=10)
    for ax, mode, name in [(axes[1], "max", "max pooled"), (axes[2], "avg", "average pooled")]:
        _grid(ax, rows, cols, gid=mode, fill=out_fill, text=pooled[mode].numpy(), extent=max(height, width))
        ax.set_title(f"{name} {rows}×{cols}", fontsize=10)
    fig.tight_layout()
    return fig
