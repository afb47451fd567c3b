"""Diagrams drawn from the models themselves, so that a picture cannot disagree with the numbers.

Every shape written on these drawings comes from running the model once through
:func:`~course_utils.lessons.summary.layer_table` (the table notebook 03 teaches), and every
parameter count from :func:`~course_utils.lessons.summary.count_parameters`:

- :func:`pipeline_diagram`: input → CONV → RELU → POOL → … → FC, one box per layer, with the
  shape that comes out of it (the notes' h × w × c);
- :func:`vgg_block_diagram`: a VGG block (3×3 convolutions with ReLUs, then 2×2 max pooling);
- :func:`residual_block_diagram`: the course's residual block with an identity shortcut and
  with a projection (1×1 convolution) shortcut;
- :func:`nested_classes_diagram`: why residual networks of growing depth form *nested*
  function classes (each can compute everything the shallower one can; the check is
  :func:`~course_utils.lessons.nesting.embed_shallower`), while arbitrary bigger classes need not.

Each function returns the matplotlib ``Figure``; in a notebook, end the cell with ``plt.show()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse, FancyArrowPatch, FancyBboxPatch
from torch import nn

from course_utils.lessons.architectures import ResidualBlock, residual_net
from course_utils.lessons.nesting import embed_shallower
from course_utils.lessons.summary import count_parameters, layer_table

__all__ = [
    "Stage",
    "nested_classes_diagram",
    "pipeline_diagram",
    "pipeline_stages",
    "residual_block_diagram",
    "shape_text",
    "vgg_block",
    "vgg_block_diagram",
]

_LABELS = {
    "Conv2d": "CONV", "ReLU": "RELU", "MaxPool2d": "POOL", "AvgPool2d": "POOL",
    "AdaptiveAvgPool2d": "POOL", "Linear": "FC", "Flatten": "FLATTEN", "BatchNorm2d": "BN",
}
_COLOURS = {
    "INPUT": "#dddddd", "CONV": "#9ecae1", "RELU": "#fdd0a2", "POOL": "#a1d99b",
    "FC": "#fc9272", "FLATTEN": "#eeeeee", "BN": "#dadaeb",
}


class Stage(NamedTuple):
    """One box of a pipeline diagram."""

    label: str
    """What the box says: ``"INPUT"``, ``"CONV"``, ``"RELU"``, ``"POOL"``, ``"FC"``…"""
    layer: str
    """The layer's name in the model (``"0"``, ``"features.3"``); ``""`` for the input."""
    shape: tuple
    """Output shape for one example, channels first, as :func:`layer_table` reports it."""


def shape_text(shape: Sequence[int]) -> str:
    """A shape in the notes' notation: ``(16, 32, 32)`` → ``"32×32×16"``; a vector → ``"1024"``."""
    shape = tuple(shape)
    if len(shape) == 3:
        c, h, w = shape
        return f"{h}×{w}×{c}"
    return "×".join(str(s) for s in shape)


def pipeline_stages(model: nn.Module, input_size: Sequence[int]) -> list[Stage]:
    """The boxes :func:`pipeline_diagram` draws: the input, then one per row of ``layer_table``."""
    table = layer_table(model, input_size)
    stages = [Stage("INPUT", "", tuple(table.input_shape))]
    stages += [Stage(_LABELS.get(r.type, r.type.upper()), r.name, tuple(r.output_shape)) for r in table]
    return stages


def _box(ax, x: float, y: float, width: float, height: float, label: str, colour: str,
         fontsize: float = 9) -> None:
    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                boxstyle="round,pad=0.02,rounding_size=0.06",
                                facecolor=colour, edgecolor="black", linewidth=0.8))
    ax.text(x, y, label, ha="center", va="center", fontsize=fontsize, fontweight="bold")


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], style: str = "arc3",
           colour: str = "black") -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=10, linewidth=1,
                                 color=colour, connectionstyle=style, shrinkA=0, shrinkB=0))


def pipeline_diagram(model: nn.Module, input_size: Sequence[int], per_row: int = 9,
                     title: str | None = None, number_layers: bool = False) -> Figure:
    """Draw ``model`` as a chain of boxes, each with the shape its layer outputs.

    The shapes are those of :func:`pipeline_stages` (that is, of ``layer_table``); a box's
    height grows with the height of the feature map it outputs, so pooling visibly shrinks
    them. Long chains wrap after ``per_row`` boxes. ``number_layers`` writes "layer k" and its
    parameters under every box that owns parameters: the layers as the notes count them.
    """
    if not isinstance(per_row, int) or per_row < 2:
        raise ValueError(f"per_row must be an integer >= 2, got {per_row!r}.")
    stages = pipeline_stages(model, input_size)
    owned = [0] + [row.parameters for row in layer_table(model, input_size)]  # the input owns none
    spatial = [s.shape[1] for s in stages if len(s.shape) == 3]
    biggest = max(spatial) if spatial else 1
    rows = -(-len(stages) // per_row)
    step_x, step_y, width = 1.25, 2.5 if number_layers else 1.9, 0.95
    fig, ax = plt.subplots(figsize=(1.25 * min(per_row, len(stages)) + 0.3, step_y * rows + 0.2))
    numbered = 0
    for i, stage in enumerate(stages):
        row, col = divmod(i, per_row)
        x, y = col * step_x, -row * step_y
        height = 0.35 + 0.65 * (stage.shape[1] / biggest if len(stage.shape) == 3 else 0.2)
        _box(ax, x, y, width, height, stage.label, _COLOURS.get(stage.label, "white"))
        ax.text(x, y - 0.62, shape_text(stage.shape), ha="center", va="top", fontsize=8.5)
        if number_layers and owned[i] > 0:
            numbered += 1
            ax.text(x, y - 0.95, f"layer {numbered}\n{owned[i]:,} params", ha="center", va="top",
                    fontsize=8, color="tab:red", gid="layer-number")
        if i + 1 < len(stages):
            if col + 1 < per_row:
                _arrow(ax, (x + width / 2, y), (x + step_x - width / 2, y))
            else:  # wrap: down and back to the start of the next row
                _arrow(ax, (x, y - step_y + 0.95), (0, y - step_y + 0.55),
                       style="angle,angleA=180,angleB=90,rad=0")
    ax.set_xlim(-0.7, step_x * (min(per_row, len(stages)) - 1) + 0.7)
    ax.set_ylim(-step_y * (rows - 1) - (1.55 if number_layers else 0.95), 0.75)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def vgg_block(in_channels: int, out_channels: int, convs: int = 2) -> nn.Sequential:
    """A VGG block: ``convs`` × (3×3 convolution, padding 1 → ReLU), then 2×2 max pooling."""
    layers: list[nn.Module] = []
    for i in range(convs):
        layers += [nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, padding=1),
                   nn.ReLU()]
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


def vgg_block_diagram(in_channels: int = 64, out_channels: int = 128, size: int = 112,
                      convs: int = 2) -> Figure:
    """Draw :func:`vgg_block` on a ``size``×``size``×``in_channels`` input, bottom to top.

    Each box says what the layer is (with its parameter count for the convolutions) and the
    shape that comes out, from ``layer_table``.
    """
    block = vgg_block(in_channels, out_channels, convs).to("meta")
    table = layer_table(block, (in_channels, size, size))
    items = [("input", shape_text(table.input_shape), "INPUT")]
    for row in table:
        module = block.get_submodule(row.name)
        if isinstance(module, nn.Conv2d):
            label = f"3×3 conv, {module.out_channels}  ({row.parameters:,} parameters)"
        elif isinstance(module, nn.MaxPool2d):
            label = "2×2 max pool, stride 2"
        else:
            label = "ReLU"
        items.append((label, shape_text(row.output_shape), _LABELS.get(row.type, "")))
    fig, ax = plt.subplots(figsize=(4.6, 0.62 * len(items) + 0.5))
    for i, (label, shape, kind) in enumerate(items):
        _box(ax, 0, i, 2.6, 0.5, label, _COLOURS.get(kind, "white"), fontsize=8.5)
        ax.text(1.45, i, shape, ha="left", va="center", fontsize=8.5)
        if i:
            _arrow(ax, (0, i - 0.75), (0, i - 0.25))
    ax.set_xlim(-1.5, 2.7)
    ax.set_ylim(-0.5, len(items) - 0.5)
    ax.axis("off")
    ax.set_title(f"a VGG block: {convs} × (3×3 conv + ReLU), then pool", fontsize=10)
    fig.tight_layout()
    return fig


def _draw_residual(ax, in_channels: int, out_channels: int, stride: int, size: int) -> None:
    block = ResidualBlock(in_channels, out_channels, stride).to("meta")
    rows = layer_table(block, (in_channels, size, size))
    table = {row.name: row for row in rows}
    projection = not isinstance(block.shortcut, nn.Identity)
    main = [
        ("conv1", f"3×3 conv, {out_channels}" + (f", stride {stride}" if stride > 1 else ""), "CONV"),
        ("bn1", "BatchNorm", "BN"), ("relu", "ReLU", "RELU"),
        ("conv2", f"3×3 conv, {out_channels}", "CONV"), ("bn2", "BatchNorm", "BN"),
    ]
    ax.text(0, -0.9, f"x: {shape_text((in_channels, size, size))}", ha="center", fontsize=9)
    for i, (name, label, kind) in enumerate(main):
        _box(ax, 0, i, 2.8, 0.5, label, _COLOURS[kind], fontsize=8.5)
        ax.text(1.5, i, shape_text(table[name].output_shape), ha="left", va="center", fontsize=8)
        _arrow(ax, (0, i - 0.75 if i else -0.6), (0, i - 0.25))
    top = len(main)
    ax.add_patch(plt.Circle((0, top), 0.22, facecolor="white", edgecolor="black"))
    ax.text(0, top, "+", ha="center", va="center", fontsize=12)
    _arrow(ax, (0, top - 0.75), (0, top - 0.22))
    _box(ax, 0, top + 0.9, 2.8, 0.45, "ReLU", _COLOURS["RELU"], fontsize=8.5)
    _arrow(ax, (0, top + 0.22), (0, top + 0.67))
    out_shape = shape_text(rows[-1].output_shape)  # the last call: the ReLU after the sum
    ax.text(0, top + 1.5, f"relu(F(x) + shortcut(x)): {out_shape}", ha="center", fontsize=9)
    # the shortcut: from below the first box, round the right-hand side, into the +
    side = -1.9
    if projection:
        shortcut_rows = [r for n, r in table.items() if n.startswith("shortcut")]
        label = f"1×1 conv, {out_channels}, stride {stride}\n+ BatchNorm\n→ {shape_text(shortcut_rows[-1].output_shape)}"
        colour = "tab:red"
    else:
        label = "identity\n(x as it is)"
        colour = "tab:green"
    ax.plot([0, side, side], [-0.55, -0.55, top], color=colour, linewidth=1.5)
    _arrow(ax, (side, top), (-0.22, top), colour=colour)
    ax.text(side - 0.1, top / 2, label, ha="right", va="center", fontsize=8.5, color=colour)
    kind = "projection" if projection else "identity"
    ax.set_title(f"{kind} shortcut: {in_channels} → {out_channels} channels, stride {stride}\n"
                 f"{count_parameters(block):,} parameters", fontsize=9.5)
    ax.set_xlim(-4.3, 3.1)
    ax.set_ylim(-1.2, top + 1.8)
    ax.axis("off")


def residual_block_diagram(channels: int = 64, size: int = 56) -> Figure:
    """Two residual blocks side by side: identity shortcut (``channels`` → ``channels``) and
    projection shortcut (``channels`` → ``2·channels``, stride 2), shapes from ``layer_table``."""
    fig, axes = plt.subplots(1, 2, figsize=(8.6, 4.2))
    _draw_residual(axes[0], channels, channels, 1, size)
    _draw_residual(axes[1], channels, 2 * channels, 2, size)
    fig.tight_layout()
    return fig


def _nested_ok(depths: Sequence[int], width: int, input_size: tuple[int, int, int]) -> bool:
    """Check, with real networks, that each depth can compute what the previous one computes."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn((4, *input_size), generator=generator)
    for shallow_depth, deep_depth in zip(depths, depths[1:], strict=False):
        torch.manual_seed(shallow_depth)
        shallow = residual_net(shallow_depth, width=width, in_channels=input_size[0]).eval()
        deep = embed_shallower(shallow, residual_net(deep_depth, width=width,
                                                     in_channels=input_size[0])).eval()
        with torch.no_grad():
            if not torch.allclose(shallow(x), deep(x), atol=1e-5):
                return False
    return True


def nested_classes_diagram(depths: Sequence[int] = (8, 14, 26), width: int = 8,
                           input_size: tuple[int, int, int] = (1, 16, 16)) -> Figure:
    """Function classes, as in *Dive into Deep Learning* §8.6: non-nested (left) and nested (right).

    Left: bigger classes that do not contain the smaller ones can move *away* from the best
    function f*. Right: residual networks of the given ``depths``; each class is drawn inside the
    next because :func:`~course_utils.lessons.nesting.embed_shallower` was just checked to turn
    every shallower network into a deeper one that computes the same function. (What a class
    *contains* is not what training *finds*: see notebook 05.)
    """
    depths = sorted(depths)
    if len(depths) < 2:
        raise ValueError(f"Give at least two depths to compare, got {depths!r}.")
    if not _nested_ok(depths, width, input_size):
        raise RuntimeError("A deeper residual network failed to reproduce a shallower one; "
                           "the nested picture would be wrong.")
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.4))
    colours = plt.get_cmap("viridis")([0.15 + 0.7 * i / (len(depths) - 1) for i in range(len(depths))])
    target = (1.6, 0.7)
    # Non-nested: each class has its own centre; the biggest is not the nearest to f*.
    layout = [((-1.3, 0.2), 0.55), ((0.1, 0.45), 0.75), ((-0.6, -0.55), 1.05)]
    handles = []
    for i, ((centre, radius), colour) in enumerate(zip(layout, colours, strict=False)):
        patch = Ellipse(centre, 2 * radius, 1.5 * radius, facecolor=colour, alpha=0.25,
                        edgecolor=colour, linewidth=2, label=f"$\\mathcal{{F}}_{i + 1}$")
        left.add_patch(patch)
        handles.append(patch)
    left.legend(handles=handles, loc="lower right", fontsize=9, frameon=False)
    left.set_title("non-nested classes: the biggest one\nis not the nearest to f*", fontsize=10)
    # Nested: residual networks of growing depth, each inside the next.
    handles = []
    for i, (depth, colour) in enumerate(zip(depths, colours, strict=True)):
        radius = 0.6 + 1.1 * i / (len(depths) - 1)
        params = count_parameters(residual_net(depth, width=width, in_channels=input_size[0]))
        patch = Ellipse((-1.2 + 0.5 * radius, 0.0), 2 * radius, 1.4 * radius, facecolor=colour,
                        alpha=0.2, edgecolor=colour, linewidth=2,
                        label=f"residual-{depth} ({params:,} parameters)")
        right.add_patch(patch)
        handles.append(patch)
    right.legend(handles=handles[::-1], loc="lower right", fontsize=8.5, frameon=False)
    right.set_title("nested: residual-" + " ⊂ residual-".join(str(d) for d in depths)
                    + "\n(more blocks can only add functions)", fontsize=10)
    for ax in (left, right):
        ax.plot(*target, marker="*", markersize=15, color="tab:red")
        ax.text(target[0] + 0.12, target[1] + 0.12, "f*", fontsize=12, color="tab:red")
        ax.set_xlim(-2.2, 2.4)
        ax.set_ylim(-2.2, 1.5)
        ax.set_aspect("equal")
        ax.axis("off")
    fig.tight_layout()
    return fig
