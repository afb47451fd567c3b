"""Measuring a receptive field: back-propagate one output unit and see which input pixels it reaches.

This is the second way of notebook 04 to get a receptive field (the first, calculated layer by
layer, is :mod:`course_utils.lessons.receptive_field`): take one unit of the output feature map,
back-propagate it to the input, and find the input pixels with a non-zero gradient
(:func:`measure_receptive_field`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from course_utils.arguments import require_input_size, require_module, require_square
from course_utils.lessons.summary import model_device

__all__ = ["MeasuredField", "measure_receptive_field"]


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
                if require_square(child, "dilation") != 1:
                    raise ValueError("A dilated MaxPool2d cannot be measured; describe it by hand.")
                replacement = nn.AvgPool2d(
                    child.kernel_size, child.stride, child.padding, child.ceil_mode
                )
            elif narrow and isinstance(child, nn.modules.conv._ConvNd) and not child.transposed:
                replacement = type(child)(  # type: ignore[call-arg]  # Conv1d/2d/3d take these
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
                setattr(parent, child_name, replacement.to(model_device(child)))
    if any(t.is_meta for t in (*probe.parameters(), *probe.buffers())):
        probe = probe.to_empty(device="cpu")  # shapes only until now: give them memory
        for module in probe.modules():
            reset = getattr(module, "reset_parameters", None)
            if callable(reset):
                reset()
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
    require_module(model)
    shape = require_input_size(input_size)
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
    assert x.grad is not None  # backward() above filled it
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
