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

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

__all__ = [
    "FieldRow",
    "FieldTable",
    "Layer",
    "MeasuredField",
    "conv",
    "draw_receptive_fields",
    "layers_from_module",
    "measure_receptive_field",
    "pool",
    "receptive_field",
    "receptive_field_example",
    "receptive_fields",
]

KINDS = ("conv", "pool")


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int of at least {minimum}, got {value!r}.")
    return value


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
        _positive_int("kernel_size", self.kernel_size)
        _positive_int("stride", self.stride)
        _positive_int("padding", self.padding, minimum=0)
        _positive_int("dilation", self.dilation)

    @property
    def effective_kernel_size(self) -> int:
        """The span of the kernel once dilation spreads its taps: ``d·(k − 1) + 1``."""
        return self.dilation * (self.kernel_size - 1) + 1


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
    _positive_int("n_layers", n_layers)
    _positive_int("pool_every", pool_every, minimum=0)
    layers: list[Layer] = []
    for i in range(1, n_layers + 1):
        layers.append(conv(kernel_size, stride, dilation=dilation, name=f"conv{i}"))
        if pool_every and i % pool_every == 0:
            layers.append(pool(2, name=f"pool{i // pool_every}"))
    return receptive_fields(layers)


def _square(module: nn.Module, attribute: str) -> int:
    value = getattr(module, attribute)
    if isinstance(value, (tuple, list)):
        if len(set(value)) != 1:
            raise ValueError(
                f"{type(module).__name__} has {attribute}={tuple(value)}: this calculator treats "
                f"height and width alike and needs square kernels, strides and paddings. "
                f"Describe each axis by hand with conv(...) and pool(...)."
            )
        value = value[0]
    return int(value)


def _layer_of(module: nn.Module, name: str) -> Layer:
    if isinstance(module, nn.Conv2d):
        k, d = _square(module, "kernel_size"), _square(module, "dilation")
        if module.padding == "valid":
            p = 0
        elif module.padding == "same":
            p = d * (k - 1) // 2
        else:
            p = _square(module, "padding")
        return Layer("conv", k, _square(module, "stride"), p, d, name)
    dilation = _square(module, "dilation") if isinstance(module, nn.MaxPool2d) else 1
    return Layer(
        "pool",
        _square(module, "kernel_size"),
        _square(module, "stride"),
        _square(module, "padding"),
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
    from course_utils.lessons.summary import _check_input_size, _check_model, _run

    _check_model(model)
    shape = _check_input_size(input_size)
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
        _run(model, shape)
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


@dataclass(frozen=True)
class MeasuredField:
    """Which input pixels one output unit depends on, measured through its gradient."""

    height: int
    width: int
    top: int
    """First input row with a non-zero gradient (the field is clipped to the image)."""
    left: int
    unit: tuple[int, int]
    """(row, column) of the output unit that was back-propagated."""
    gradient: Tensor
    """``(H, W)`` absolute gradient summed over input channels, for drawing."""

    @property
    def size(self) -> int:
        """The side of the field, when it is square."""
        if self.height != self.width:
            raise ValueError(f"The measured field is {self.height}×{self.width}, not square.")
        return self.height


def _probe_copy(model: nn.Module, narrow: bool) -> nn.Module:
    """A CPU copy in which every path from input to output passes a positive gradient.

    Weights are set to ``1 / fan_in`` (positive, and small enough that 20 layers neither
    overflow nor underflow float32), biases to 0, batch norm to the identity, and max pooling
    becomes average pooling of the same geometry: max pooling sends the gradient to one pixel
    per window only, so it would measure what mattered for one input, not all that *can*.

    With every weight equal and an input of ones, all channels of a layer carry the same
    numbers; ``narrow=True`` therefore keeps one channel per convolution, which changes no
    field (kernel, stride, padding and dilation are kept) and saves almost all the arithmetic.
    """
    probe = copy.deepcopy(model)
    for parent in list(probe.modules()):
        for child_name, child in parent.named_children():
            replacement: nn.Module | None = None
            if isinstance(child, nn.MaxPool2d):
                if _square(child, "dilation") != 1:
                    raise ValueError("A dilated MaxPool2d cannot be measured; describe it by hand.")
                replacement = nn.AvgPool2d(
                    child.kernel_size, child.stride, child.padding, child.ceil_mode
                )
            elif narrow and isinstance(child, nn.modules.conv._ConvNd) and not child.transposed:
                replacement = type(child)(
                    1,
                    1,
                    child.kernel_size,
                    child.stride,
                    child.padding,
                    child.dilation,
                    bias=False,
                    padding_mode=child.padding_mode,
                )
            elif narrow and isinstance(child, nn.modules.batchnorm._BatchNorm):
                replacement = nn.Identity()
            if replacement is not None:
                setattr(parent, child_name, replacement.to(_device_of(child)))
    if any(t.is_meta for t in (*probe.parameters(), *probe.buffers())):
        probe = probe.to_empty(device="cpu")  # shapes only until now: give them memory
        for module in probe.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
    probe = probe.to(device="cpu", dtype=torch.float32)
    with torch.no_grad():
        for module in probe.modules():
            if isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)):
                module.weight.fill_(1.0 / module.weight[0].numel())
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.reset_running_stats()
                module.reset_parameters()
    return probe.eval()


def _device_of(module: nn.Module) -> torch.device:
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")


def measure_receptive_field(
    model: nn.Module,
    input_size: Sequence[int],
    unit: tuple[int, int] | None = None,
    narrow: bool = True,
) -> MeasuredField:
    """Measure the receptive field of one output unit by back-propagating it to the input.

    ``model`` must map ``(1, *input_size)`` to feature maps ``(1, C, H, W)`` (for a classifier,
    pass its convolutional part, e.g. ``vgg.features``). ``unit`` is the (row, column) of the
    unit to probe, the centre of the map by default, so that its field is not clipped by the
    border when the input is large enough. The model is copied (see :func:`_probe_copy`), so
    yours is unchanged; a model on the ``meta`` device works too. Runs on the CPU.

    ``narrow=True`` measures a one-channel copy (same field, a tiny fraction of the cost); a
    model whose forward pass depends on its channel counts (concatenations, fully connected
    layers) is measured at full width instead, as with ``narrow=False``.
    """
    from course_utils.lessons.summary import _check_input_size, _check_model

    _check_model(model)
    shape = _check_input_size(input_size)
    if len(shape) != 3:
        raise ValueError(f"input_size must be (channels, height, width) of one image, got {shape}.")
    if narrow and not any(isinstance(m, nn.Linear) for m in model.modules()):
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # one-channel maps are too small to share among threads
        try:
            return _measure(_probe_copy(model, narrow=True), (1, *shape[1:]), unit)
        except RuntimeError:
            pass  # the forward pass needs the real channel counts: measure at full width
        finally:
            torch.set_num_threads(threads)
    return _measure(_probe_copy(model, narrow=False), shape, unit)


def _measure(
    probe: nn.Module, shape: tuple[int, ...], unit: tuple[int, int] | None
) -> MeasuredField:
    x = torch.ones((1, *shape), requires_grad=True)
    y = probe(x)
    if not isinstance(y, Tensor) or y.dim() != 4:
        got = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
        raise ValueError(
            f"The model returned {got}, not feature maps (1, C, H, W). Pass only its "
            f"convolutional part, e.g. vgg.features or nn.Sequential(*list(resnet.children())[:-2])."
        )
    height, width = y.shape[-2:]
    row, col = (height // 2, width // 2) if unit is None else unit
    if not (0 <= row < height and 0 <= col < width):
        raise ValueError(f"unit {(row, col)} is outside the {height}×{width} output feature map.")
    y[0, 0, row, col].backward()
    gradient = x.grad[0].abs().sum(dim=0)
    rows = gradient.sum(dim=1).nonzero().flatten()
    cols = gradient.sum(dim=0).nonzero().flatten()
    return MeasuredField(
        height=int(rows[-1] - rows[0] + 1),
        width=int(cols[-1] - cols[0] + 1),
        top=int(rows[0]),
        left=int(cols[0]),
        unit=(int(row), int(col)),
        gradient=gradient.detach(),
    )


def draw_receptive_fields(table: FieldTable, ax: Any = None) -> Any:
    """Nested squares on a pixel grid: the field of one unit after each layer, the largest last.

    Returns the matplotlib axes; end the notebook cell with ``plt.show()``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

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
