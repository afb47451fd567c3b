"""Pooling by hand: max and average pooling, and a small worked example for the explorer.

Notebook 02 teaches these. Pooling slides a window over each feature map separately, like a
convolution, but it has no weights: it only *selects* (max) or *averages* (avg) the numbers
under the window. Its output size obeys the same formula as a convolution's
(``course_utils.lessons.conv``), with no padding and no dilation here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from course_utils.lessons.conv import conv_geometry, conv_output_size

__all__ = ["MODES", "PoolingExample", "pool2d_by_hand", "pooling_example", "pooling_layer"]

MODES = ("max", "avg")
"""The two kinds of pooling in the notes: max (used most) and average (used less)."""


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
    return mode


def pool2d_by_hand(
    x: Tensor, kernel_size: int = 2, stride: int | None = None, mode: str = "max"
) -> Tensor:
    """Max or average pooling over the last two axes of ``x``, one window at a time.

    ``stride`` defaults to ``kernel_size`` (windows side by side, as ``nn.MaxPool2d`` does).
    Works on a map ``(H, W)``, a stack ``(C, H, W)`` or a batch ``(N, C, H, W)``: every
    map is pooled on its own, so the number of maps never changes.
    """
    _check_mode(mode)
    stride = kernel_size if stride is None else stride
    if x.dim() < 2:
        raise ValueError(f"x must have at least two axes (H, W), got shape {tuple(x.shape)}.")
    out_h = conv_output_size(x.shape[-2], kernel_size, stride)
    out_w = conv_output_size(x.shape[-1], kernel_size, stride)
    out = x.new_zeros(*x.shape[:-2], out_h, out_w)
    for i in range(out_h):
        for j in range(out_w):
            top, left = i * stride, j * stride
            window = x[..., top : top + kernel_size, left : left + kernel_size]
            if mode == "max":
                out[..., i, j] = window.amax(dim=(-2, -1))
            else:
                out[..., i, j] = window.mean(dim=(-2, -1))
    return out


def pooling_layer(kernel_size: int = 2, stride: int | None = None, mode: str = "max") -> nn.Module:
    """The PyTorch layer that :func:`pool2d_by_hand` imitates."""
    layer = nn.MaxPool2d if _check_mode(mode) == "max" else nn.AvgPool2d
    return layer(kernel_size, stride)


@dataclass(frozen=True)
class PoolingExample:
    """A small map, its pooled version, and the facts the pooling explorer prints."""

    input: Tensor
    output: Tensor
    kernel_size: int
    stride: int
    mode: str
    parameters: int
    matches_torch: bool

    def describe(self) -> str:
        """A few lines for a learner: sizes, the formula, parameters, agreement with PyTorch."""
        geometry = conv_geometry(self.input.shape[-1], self.kernel_size, self.stride)
        size, out = self.input.shape[-1], self.output.shape[-1]
        lines = [
            f"{self.mode} pooling, window {self.kernel_size}×{self.kernel_size}, "
            f"stride {self.stride}: {size}×{size} → {out}×{out}",
            geometry.formula(),
            f"parameters: {self.parameters}",
            f"numbers: {size * size} in, {out * out} out",
            f"same as nn.{type(pooling_layer(self.kernel_size, self.stride, self.mode)).__name__}:"
            f" {self.matches_torch}",
        ]
        if (warning := geometry.warning()) is not None:
            lines.append(f"warning: {warning}")
        return "\n".join(lines)


def pooling_example(
    size: int = 6, kernel_size: int = 2, stride: int = 2, mode: str = "max", seed: int = 0
) -> PoolingExample:
    """Pool a ``size × size`` map of small random integers by hand and check it against PyTorch."""
    conv_geometry(size, kernel_size, stride)  # clear errors for impossible settings
    generator = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 10, (size, size), generator=generator).float()
    by_hand = pool2d_by_hand(x, kernel_size, stride, mode)
    layer = pooling_layer(kernel_size, stride, mode)
    by_torch = layer(x[None, None])[0, 0]
    return PoolingExample(
        input=x,
        output=by_hand,
        kernel_size=kernel_size,
        stride=stride,
        mode=mode,
        parameters=sum(p.numel() for p in layer.parameters()),
        matches_torch=bool(torch.allclose(by_hand, by_torch)),
    )
