"""Receptive fields (感受野): how much of the input one unit of a feature map can see.

Two ways to get the same number, and notebook 04 checks that they agree:

- **calculated** by :func:`receptive_fields`, one layer at a time. With ``r`` the field and
  ``j`` the *jump* (how many input pixels apart two neighbouring units are), a layer with
  kernel ``k``, stride ``s`` and dilation ``d`` does::

      k_eff = d·(k − 1) + 1        r ← r + (k_eff − 1)·j        j ← j·s

  starting from ``r = 1, j = 1`` on the input. Padding moves the field, never resizes it.
  ReLU, batch norm and dropout act on one position at a time, so they change nothing.
- **measured** by :func:`measure_receptive_field`: take one output unit, back-propagate it
  to the input, and see which input pixels get a non-zero gradient.

Layers are given as a list of :class:`Layer` (``conv(3)``, ``pool(2)``...) or read off a
model by :func:`layers_from_module`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from torch import nn

from course_utils.arguments import require_input_size, require_int, require_module, require_square
from course_utils.lessons.conv import effective_kernel_size
from course_utils.lessons.receptive_field_probe import MeasuredField, measure_receptive_field
from course_utils.lessons.summary import run_once

__all__ = [
    "FieldRow",
    "FieldTable",
    "Layer",
    "MeasuredField",
    "conv",
    "layers_from_module",
    "measure_receptive_field",
    "pool",
    "receptive_field",
    "receptive_field_example",
    "receptive_fields",
]

KINDS = ("conv", "pool")


@dataclass(frozen=True)
class Layer:
    """The geometry of one convolution or pooling layer along one axis (height = width)."""

    kind: str
    """``"conv"`` or ``"pool"`` (the arithmetic is the same; the name is for the table)."""
    kernel_size: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    name: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}.")
        require_int("kernel_size", self.kernel_size)
        require_int("stride", self.stride)
        require_int("padding", self.padding, minimum=0)
        require_int("dilation", self.dilation)

    @property
    def effective_kernel_size(self) -> int:
        """The span of the kernel once dilation spreads its taps: ``d·(k − 1) + 1``."""
        return effective_kernel_size(self.kernel_size, self.dilation)


def conv(
    kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1, name: str = ""
) -> Layer:
    """A convolution layer's geometry, with ``nn.Conv2d``'s defaults."""
    return Layer("conv", kernel_size, stride, padding, dilation, name)


def pool(kernel_size: int, stride: int | None = None, padding: int = 0, name: str = "") -> Layer:
    """A pooling layer's geometry; like ``nn.MaxPool2d``, the stride defaults to the window size."""
    return Layer("pool", kernel_size, kernel_size if stride is None else stride, padding, 1, name)


class FieldRow(NamedTuple):
    """The receptive field of one unit of the feature map after one layer."""

    name: str
    kind: str
    kernel_size: int
    stride: int
    padding: int
    jump: int
    """Distance in input pixels between two neighbouring units of this layer's output."""
    receptive_field: int
    """Side of the square of input pixels one unit sees."""
    start: float
    """Input coordinate of the centre of unit 0's field (pixel centres at 0, 1, 2...).
    Negative when padding puts the field partly outside the image."""


class FieldTable(list):
    """A list of :class:`FieldRow`, one per layer, that prints as a table."""

    @property
    def receptive_field(self) -> int:
        """The receptive field after the last layer."""
        return self[-1].receptive_field if self else 1

    @property
    def jump(self) -> int:
        """The jump after the last layer (the product of all strides)."""
        return self[-1].jump if self else 1

    def span(self, index: int) -> tuple[int, int]:
        """First and last input pixel (along one axis) seen by unit ``index`` of the last layer.

        Not clipped to the image: a negative first pixel means the field hangs over the border
        into the padding.
        """
        start = self[-1].start if self else 0.0
        centre = start + index * self.jump
        half = (self.receptive_field - 1) / 2
        return round(centre - half), round(centre + half)

    def parameter_factor(self) -> int:
        """Weights per C² of the conv layers, with C channels in and out and no bias: Σ k²."""
        return sum(r.kernel_size**2 for r in self if r.kind == "conv")

    def describe(self) -> str:
        """One sentence on the final field and its price, as the explorer prints it."""
        convs = [r for r in self if r.kind == "conv"]
        pools = len(self) - len(convs)
        rf = self.receptive_field
        text = (
            f"{len(convs)} conv layer(s) and {pools} pooling layer(s): one unit of the last "
            f"feature map sees {rf}×{rf} input pixels (fields layer by layer: "
            f"{', '.join(str(r.receptive_field) for r in self)}). "
            f"Weights with C channels in and out: {self.parameter_factor()}C², "
            f"where one {rf}×{rf} conv would need {rf * rf}C²; "
            f"{len(convs)} ReLU(s) instead of 1."
        )
        return text

    def __str__(self) -> str:
        header = ("layer", "kind", "kernel", "stride", "padding", "jump", "field")
        lines = [
            (
                r.name,
                r.kind,
                r.kernel_size,
                r.stride,
                r.padding,
                r.jump,
                f"{r.receptive_field}×{r.receptive_field}",
            )
            for r in self
        ]
        lines = [("input", "", "", "", "", 1, "1×1"), *lines]
        cells = [[str(c) for c in line] for line in [header, *lines]]
        widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
        out = []
        for n, row in enumerate(cells):
            left = "  ".join(c.ljust(w) for c, w in zip(row[:2], widths[:2], strict=True))
            right = "  ".join(c.rjust(w) for c, w in zip(row[2:], widths[2:], strict=True))
            out.append(f"{left}  {right}".rstrip())
            if n == 0:
                out.append("-" * len(out[0]))
        return "\n".join(out)

    def __repr__(self) -> str:
        return self.__str__()


def _as_layer(spec: Layer | Sequence[Any], position: int) -> Layer:
    if isinstance(spec, Layer):
        return spec
    if isinstance(spec, (tuple, list)) and spec and spec[0] in KINDS:
        return Layer(*spec)
    raise ValueError(
        f"Layer {position} is {spec!r}: give a Layer, e.g. conv(3, stride=1, padding=1) or "
        f"pool(2), or a tuple (kind, kernel_size, stride, padding) with kind in {KINDS}."
    )


def receptive_fields(layers: Iterable[Layer | Sequence[Any]]) -> FieldTable:
    """The receptive field after every layer of a stack of conv and pooling layers.

    >>> receptive_fields([conv(3), conv(3), conv(3)]).receptive_field
    7
    """
    rf, jump, start = 1, 1, 0.0
    rows = FieldTable()
    seen = dict.fromkeys(KINDS, 0)
    for position, spec in enumerate(layers):
        layer = _as_layer(spec, position)
        seen[layer.kind] += 1
        start += ((layer.effective_kernel_size - 1) / 2 - layer.padding) * jump
        rf += (layer.effective_kernel_size - 1) * jump
        jump *= layer.stride
        name = layer.name or f"{layer.kind}{seen[layer.kind]}"
        rows.append(
            FieldRow(
                name, layer.kind, layer.kernel_size, layer.stride, layer.padding, jump, rf, start
            )
        )
    return rows


def receptive_field(layers: Iterable[Layer | Sequence[Any]]) -> int:
    """Only the final number: the side of the input square one output unit sees."""
    return receptive_fields(layers).receptive_field


def receptive_field_example(
    n_layers: int = 3, kernel_size: int = 3, stride: int = 1, dilation: int = 1, pool_every: int = 0
) -> FieldTable:
    """The explorer's stack: ``n_layers`` equal conv layers, a 2×2 max pool after every
    ``pool_every`` of them (0: no pooling). Three 3×3 layers give a 7×7 field."""
    require_int("n_layers", n_layers)
    require_int("pool_every", pool_every, minimum=0)
    layers: list[Layer] = []
    for i in range(1, n_layers + 1):
        layers.append(conv(kernel_size, stride, dilation=dilation, name=f"conv{i}"))
        if pool_every and i % pool_every == 0:
            layers.append(pool(2, name=f"pool{i // pool_every}"))
    return receptive_fields(layers)


def _layer_of(module: nn.Module, name: str) -> Layer:
    if isinstance(module, nn.Conv2d):
        k, d = require_square(module, "kernel_size"), require_square(module, "dilation")
        if module.padding == "valid":
            p = 0
        elif module.padding == "same":
            p = d * (k - 1) // 2
        else:
            p = require_square(module, "padding")
        return Layer("conv", k, require_square(module, "stride"), p, d, name)
    dilation = require_square(module, "dilation") if isinstance(module, nn.MaxPool2d) else 1
    return Layer(
        "pool",
        require_square(module, "kernel_size"),
        require_square(module, "stride"),
        require_square(module, "padding"),
        dilation,
        name,
    )


def layers_from_module(
    model: nn.Module,
    input_size: Sequence[int] = (3, 224, 224),
    skip: Iterable[str] = ("downsample",),
) -> list[Layer]:
    """The ``Conv2d``, ``MaxPool2d`` and ``AvgPool2d`` layers of ``model``, in forward order.

    The order is the order in which a forward pass on zeros of shape ``(1, *input_size)``
    calls them (a model on the ``meta`` device runs it for free). Layers whose qualified name
    has a part in ``skip`` are left out: by default torchvision ResNet's ``downsample``
    shortcut, so that for a ResNet this is the **main path** through every residual block.
    The shortcut's 1×1 convolution sees less than the main path, so the main path's field is
    the field of the block. Adaptive pooling and fully connected layers are not included:
    they see the whole feature map.
    """
    require_module(model)
    shape = require_input_size(input_size)
    skipped = set(skip)
    called: list[nn.Module] = []
    names = {module: name for name, module in model.named_modules()}

    def hook(module: nn.Module, _inputs: Any, _output: Any) -> None:
        called.append(module)

    kinds = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)
    handles = [
        m.register_forward_hook(hook)
        for name, m in model.named_modules()
        if isinstance(m, kinds) and not skipped.intersection(name.split("."))
    ]
    try:
        run_once(model, shape)
    finally:
        for handle in handles:
            handle.remove()
    found = [_layer_of(module, names[module]) for module in called]
    if not found:
        raise ValueError(
            f"{type(model).__name__} ran no Conv2d, MaxPool2d or AvgPool2d layer (outside {sorted(skipped)}); "
            f"describe its layers by hand with conv(...) and pool(...)."
        )
    return found
