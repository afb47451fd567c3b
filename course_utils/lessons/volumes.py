"""Volumes in 3-D, drawn from the lessons' own arithmetic: the notes' lost figures of 01 and 04.

A CNN's data are volumes h × w × c. These drawings show them in an oblique projection (width to
the right, height down, depth going back and up), one unit of the drawing per pixel, each
channel a slab:

- :func:`draw_conv_volume`: a 5×5×3 kernel on a 32×32×3 input giving one 28×28×1 feature map
  (``kernels=1``), or six kernels giving a stack of six maps, 28×28×6 (``kernels=6``); the
  output side is :func:`~course_utils.lessons.conv.conv_output_size`'s;
- :func:`draw_stacked_fields`: three stacked 3×3 convolutions, each layer's plane smaller than
  the one below, and the one unit at the top seeing the whole 7×7 input; the sizes are those of
  :func:`~course_utils.lessons.receptive_field.receptive_fields`.

Each box face and plane is a patch whose ``gid`` names it (``"output:front"``, ``"plane:conv1"``),
so that a test can measure what was drawn. Each function returns the ``Figure``; end the
notebook cell with ``plt.show()``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Polygon

from course_utils.arguments import require_int
from course_utils.lessons.conv import conv_output_size
from course_utils.lessons.receptive_field import conv, receptive_fields

__all__ = ["draw_conv_volume", "draw_stacked_fields", "face_size"]

_SLANT_X, _SLANT_Y = 0.6, 0.45
"""Screen offset of one unit of depth (oblique projection: depth goes back and up)."""
_RGB = ["#e41a1c", "#4daf4a", "#377eb8"]
_KERNEL_COLOURS = ["#ff7f00", "#984ea3", "#a65628", "#f781bf", "#999999", "#17becf", "#bcbd22", "#1f77b4"]

Point = tuple[float, float]


def _at(x: float, y: float, z: float) -> Point:
    """Screen position of column ``x``, row ``y`` (downwards) and depth ``z``."""
    return x + _SLANT_X * z, -y + _SLANT_Y * z


def _box(ax: Axes, x: float, y: float, z: float, width: float, height: float, depth: float,
         colour: str, gid: str, alpha: float = 0.35, edge: str = "black") -> None:
    """A box's three visible faces: front (``gid:front``), top and right."""
    faces = {
        "front": [(x, y, z), (x + width, y, z), (x + width, y + height, z), (x, y + height, z)],
        "top": [(x, y, z), (x + width, y, z), (x + width, y, z + depth), (x, y, z + depth)],
        "right": [(x + width, y, z), (x + width, y + height, z), (x + width, y + height, z + depth),
                  (x + width, y, z + depth)],
    }
    for name, corners in faces.items():
        shade = {"front": 1.0, "top": 0.8, "right": 0.6}[name]
        ax.add_patch(Polygon([_at(*c) for c in corners], closed=True, facecolor=colour,
                             alpha=alpha * shade + (1 - shade) * 0.1, edgecolor=edge, linewidth=0.8,
                             gid=f"{gid}:{name}"))


def _slabs(ax: Axes, x: float, y: float, width: float, height: float, channels: int, slab: float,
           colours: list[str], gid: str, alpha: float = 0.3) -> None:
    """A volume of ``channels`` slabs: one strip per channel on its top and right faces, the
    front face (``gid:front``) in channel 0's colour."""
    for channel in range(channels):
        z0, z1 = channel * slab, (channel + 1) * slab
        colour = colours[channel % len(colours)]
        for corners in ([(x, y, z0), (x + width, y, z0), (x + width, y, z1), (x, y, z1)],
                        [(x + width, y, z0), (x + width, y + height, z0), (x + width, y + height, z1),
                         (x + width, y, z1)]):
            ax.add_patch(Polygon([_at(*c) for c in corners], closed=True, facecolor=colour,
                                 alpha=alpha, edgecolor="0.3", linewidth=0.6))
    ax.add_patch(Polygon([_at(x, y, 0), _at(x + width, y, 0), _at(x + width, y + height, 0),
                          _at(x, y + height, 0)], closed=True, facecolor=colours[0], alpha=alpha * 0.6,
                         edgecolor="0.3", linewidth=0.8, gid=f"{gid}:front"))


def face_size(ax: Axes, gid: str) -> tuple[float, float]:
    """Width and height, in drawing units (pixels), of the face or plane drawn with ``gid``."""
    patches = [p for p in ax.patches if p.get_gid() == gid and isinstance(p, Polygon)]
    if len(patches) != 1:
        raise ValueError(f"expected one face or plane with gid {gid!r}, found {len(patches)}.")
    corners = patches[0].get_xy()
    xs, ys = corners[:, 0], corners[:, 1]
    return float(xs.max() - xs.min()), float(ys.max() - ys.min())


def draw_conv_volume(size: int = 32, channels: int = 3, kernel_size: int = 5, kernels: int = 1,
                     position: tuple[int, int] = (6, 9)) -> Figure:
    """A ``kernel_size``×``kernel_size``×``channels`` kernel on a ``size``×``size``×``channels``
    input, and what ``kernels`` such kernels make of it: ``kernels`` feature maps, stacked.

    The kernel sits at ``position`` (row, column of its top-left corner); the output number it
    gives there is marked at the same place of the map(s). No padding, stride 1.
    """
    for name, value in [("size", size), ("channels", channels), ("kernel_size", kernel_size),
                        ("kernels", kernels)]:
        require_int(name, value, 1)
    out = conv_output_size(size, kernel_size)
    row, col = position
    if not (0 <= row < out and 0 <= col < out):
        raise ValueError(f"position {position} is not a place where the kernel fits whole: rows and "
                         f"columns 0 to {out - 1}.")
    slab = max(2.0, size / 10)  # depth of one channel in the drawing: a few pixels, to be seen
    gap = size * 0.55
    fig, ax = plt.subplots(figsize=(9.5, 4.6))
    _slabs(ax, 0, 0, size, size, channels, slab, _RGB, "input", alpha=0.3)
    first = _KERNEL_COLOURS[0]
    _box(ax, col, row, 0, kernel_size, kernel_size, channels * slab, first, "kernel", alpha=0.95)
    left = size + gap + channels * slab * _SLANT_X
    if kernels > 1:  # the kernels themselves, one above the other, between input and output
        small = size / max(kernels, 4) * 0.8
        for k in range(kernels):
            _box(ax, size + gap * 0.3 + channels * slab * _SLANT_X * 0.3, k * (small + 1.2), 0,
                 small * kernel_size / 5, small * kernel_size / 5, small * 0.6,
                 _KERNEL_COLOURS[k % len(_KERNEL_COLOURS)], f"kernel {k}", alpha=0.8)
        left += gap * 0.5
    top = (size - out) / 2
    colours = [_KERNEL_COLOURS[k % len(_KERNEL_COLOURS)] for k in range(kernels)]
    _slabs(ax, left, top, out, out, kernels, slab * 0.6, colours, "output", alpha=0.25)
    _box(ax, left + col, top + row, 0, 1, 1, kernels * slab * 0.6, "black", "output-cell", alpha=0.9)
    for corner_row, corner_col in [(row, col + kernel_size), (row + kernel_size, col + kernel_size)]:
        start = _at(corner_col, corner_row, 0)
        end = _at(left + col, top + row + (corner_row > row), 0)
        ax.plot([start[0], end[0]], [start[1], end[1]], "k--", linewidth=0.9)
    maps = "one feature map" if kernels == 1 else f"a stack of {kernels} feature maps"
    labels = [
        (_at(size / 2, size + 1.5, 0), f"input {size}×{size}×{channels}", "black", "top"),
        (_at(col + kernel_size / 2, row + kernel_size + 1, 0),
         f"kernel {kernel_size}×{kernel_size}×{channels}" if kernels == 1
         else f"{kernels} kernels, each {kernel_size}×{kernel_size}×{channels}", "#a34700", "top"),
        (_at(left + out / 2, top + out + 1.5, 0), f"{maps}: {out}×{out}×{kernels}", "black", "top"),
        (_at(left + col + 0.5, top + row + 2, 0),
         "one position → one number\n(inner product + bias)" if kernels == 1
         else f"one position → {kernels} numbers,\none per kernel", "black", "top"),
    ]
    for (x, y), text, colour, va in labels:
        ax.text(x, y, text, ha="center", va=va, fontsize=9.5, color=colour)
    ax.set_title(f"{'one kernel' if kernels == 1 else f'{kernels} kernels'} of {kernel_size}×{kernel_size}"
                 f"×{channels} on a {size}×{size}×{channels} input → {out}×{out}×{kernels}", fontsize=10.5)
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.margins(0.04)
    ax.axis("off")
    fig.tight_layout()
    return fig


def draw_stacked_fields(layers: int = 3, kernel_size: int = 3) -> Figure:
    """``layers`` stacked ``kernel_size``×``kernel_size`` convolutions (stride 1, no padding) as
    planes, input at the bottom: one unit at the top sees the whole input below it.

    The input's side is the receptive field of the whole stack, so each plane is exactly what
    the unit at the top depends on: 7×7, 5×5, 3×3, 1×1 for three 3×3 layers. Each plane's label
    says what one of its units sees of the input (its receptive field).
    """
    require_int("layers", layers, 1)
    require_int("kernel_size", kernel_size, 2)
    table = receptive_fields([conv(kernel_size)] * layers)
    sides = [table.receptive_field]
    for _ in range(layers):
        sides.append(conv_output_size(sides[-1], kernel_size))
    names = ["input"] + [row.name for row in table]
    fields = [1] + [row.receptive_field for row in table]
    big = sides[0]
    gap = big * 0.55 + 1.5
    fig, ax = plt.subplots(figsize=(7.5, 1.2 + 1.15 * (layers + 1)))
    colours = plt.get_cmap("viridis")([0.15 + 0.7 * i / max(layers, 1) for i in range(layers + 1)])
    corners_below = None
    for level, (side, name, field, colour) in enumerate(zip(sides, names, fields, colours, strict=True)):
        offset = (big - side) / 2

        def plane(x: float, depth: float, height: float = level * gap, o: float = offset) -> Point:
            return (o + x + _SLANT_X * (o + depth), height + _SLANT_Y * (o + depth))

        for i in range(side + 1):  # the grid: one cell per unit
            for a, b in [((i, 0), (i, side)), ((0, i), (side, i))]:
                start, end = plane(*a), plane(*b)
                ax.plot([start[0], end[0]], [start[1], end[1]], color="0.35", linewidth=0.6)
        corners = [plane(0, 0), plane(side, 0), plane(side, side), plane(0, side)]
        ax.add_patch(Polygon(corners, closed=True, facecolor=colour, alpha=0.45, edgecolor="black",
                             gid=f"plane:{name}"))
        if corners_below is not None:
            for low, high in zip(corners_below, corners, strict=True):
                ax.plot([low[0], high[0]], [low[1], high[1]], color=colour, linestyle="--", linewidth=1)
        corners_below = corners
        sees = "pixels" if level == 0 else f"each unit sees {field}×{field} of the input"
        ax.text(plane(side, side / 2)[0] + 1.5, plane(side, side / 2)[1], f"{name}: {side}×{side}  ({sees})",
                va="center", fontsize=9.5)
    ax.set_title(f"{layers} stacked {kernel_size}×{kernel_size} convolutions: the unit at the top "
                 f"sees {table.receptive_field}×{table.receptive_field} input pixels", fontsize=10.5)
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.set_xlim(right=ax.get_xlim()[1] + big * 1.9)  # room for the labels
    ax.axis("off")
    fig.tight_layout()
    return fig
