"""Convolution arithmetic: output sizes, window positions, and a convolution done by hand.

Notebook 01 teaches these; the convolution explorer (``course_utils.lessons.explorers``) draws them.
Everything follows PyTorch's ``nn.Conv2d`` (which, like every deep-learning library,
computes a cross-correlation: the kernel is not flipped).

The one formula of the chapter, per axis, with ``FH`` the (dilated) kernel size::

    H2 = (H1 - FH + 2P) / S + 1

When ``S`` does not divide ``H1 - FH + 2P`` the division is not exact; PyTorch floors it,
and the last rows (or columns) of the padded input are never visited by any window.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import torch
import torch.nn.functional as F
from torch import Tensor

from course_utils.arguments import require_int

__all__ = [
    "FORMULA",
    "ConvGeometry",
    "conv2d_loops",
    "conv2d_unfold",
    "conv_geometry",
    "conv_mult_adds",
    "conv_output_size",
    "effective_kernel_size",
    "hand_made_kernels",
    "hwc",
]

FORMULA = "H2 = (H1 − FH + 2P) / S + 1"
"""The output-size formula as the lecture notes write it (the same holds for the width)."""

IntPair = int | tuple[int, int]


def effective_kernel_size(kernel_size: int, dilation: int = 1) -> int:
    """The span of a kernel once dilation spreads its taps: ``d·(k − 1) + 1``."""
    return dilation * (kernel_size - 1) + 1


def _pair(name: str, value: IntPair, minimum: int) -> tuple[int, int]:
    if isinstance(value, tuple):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair (height, width), got {value!r}.")
        return require_int(name, value[0], minimum), require_int(name, value[1], minimum)
    value = require_int(name, value, minimum)
    return value, value


@dataclass(frozen=True)
class ConvGeometry:
    """Where a kernel goes along one axis of the input (the other axis works the same way).

    Build it with :func:`conv_geometry`, which checks the numbers. Positions are counted in
    the *padded* input, where the real pixels are ``padding ... padding + size - 1``.
    """

    size: int
    kernel_size: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1

    @property
    def effective_kernel_size(self) -> int:
        """``FH``: the span of the kernel once dilation spreads its taps apart."""
        return effective_kernel_size(self.kernel_size, self.dilation)

    @property
    def padded_size(self) -> int:
        """``H1 + 2P``: the input once zero padding is added on both sides."""
        return self.size + 2 * self.padding

    @property
    def exact_output(self) -> Fraction:
        """``(H1 - FH + 2P) / S + 1`` as an exact fraction, before any rounding."""
        return Fraction(self.padded_size - self.effective_kernel_size, self.stride) + 1

    @property
    def output_size(self) -> int:
        """``H2``: the number of window positions, i.e. the formula floored as PyTorch does."""
        return (self.padded_size - self.effective_kernel_size) // self.stride + 1

    @property
    def is_exact(self) -> bool:
        """True when the stride divides ``H1 - FH + 2P``, so that the formula gives an integer."""
        return self.exact_output.denominator == 1

    @property
    def unvisited(self) -> int:
        """Rows (or columns) at the end of the padded input that no window reaches."""
        return (self.padded_size - self.effective_kernel_size) % self.stride

    def window_starts(self) -> list[int]:
        """The first padded position of every window: ``0, S, 2S, ...``."""
        return [i * self.stride for i in range(self.output_size)]

    def window_taps(self, index: int) -> list[int]:
        """The padded positions that window number ``index`` multiplies by kernel weights."""
        if not 0 <= index < self.output_size:
            raise IndexError(f"window index must be in 0..{self.output_size - 1}, got {index}.")
        start = index * self.stride
        return [start + k * self.dilation for k in range(self.kernel_size)]

    def usage(self, include_padding: bool = False) -> Tensor:
        """How many windows use each position, as a 2-D ``int64`` grid (square input).

        With ``include_padding=False`` (the default) only the real pixels are shown:
        the border pixels of an unpadded input are used less often than the centre.
        """
        counts = torch.zeros(self.padded_size, dtype=torch.int64)
        for index in range(self.output_size):
            counts[self.window_taps(index)] += 1
        if not include_padding:
            counts = counts[self.padding : self.padding + self.size]
        return torch.outer(counts, counts)

    def formula(self) -> str:
        """The notes' formula with this geometry's numbers put in."""
        value = self.exact_output
        shown = str(value.numerator) if value.denominator == 1 else f"{float(value):.4g}"
        return (
            f"{FORMULA} = ({self.size} − {self.effective_kernel_size} + 2×{self.padding})"
            f" / {self.stride} + 1 = {shown}"
        )

    def warning(self) -> str | None:
        """A sentence saying what PyTorch does when the formula is not an integer, else None."""
        if self.is_exact:
            return None
        return (
            f"(H1 − FH + 2P) / S + 1 = {float(self.exact_output):.4g} is not an integer: "
            f"PyTorch floors it to {self.output_size}, and the last {self.unvisited} "
            f"row(s)/column(s) of the padded input are never visited."
        )

    def describe(self) -> str:
        """A few lines for a learner: the formula, the output size, the window starts."""
        lines = [
            f"input {self.size}×{self.size}, kernel {self.kernel_size}×{self.kernel_size}, "
            f"stride {self.stride}, padding {self.padding}, dilation {self.dilation}",
        ]
        if self.padding:
            lines.append(f"padded input: {self.padded_size}×{self.padded_size}")
        if self.dilation > 1:
            lines.append(
                f"dilated kernel: FH = D×(F − 1) + 1 = {self.dilation}×({self.kernel_size} − 1)"
                f" + 1 = {self.effective_kernel_size}"
            )
        lines.append(self.formula())
        lines.append(f"output: {self.output_size}×{self.output_size}")
        lines.append(f"window starts (padded coordinates): {self.window_starts()}")
        if (warning := self.warning()) is not None:
            lines.append(f"warning: {warning}")
        return "\n".join(lines)


def conv_geometry(
    size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> ConvGeometry:
    """Check the numbers of one convolution axis and return its :class:`ConvGeometry`.

    >>> conv_geometry(7, 3, stride=2).output_size
    3
    """
    geometry = ConvGeometry(
        size=require_int("size", size, 1),
        kernel_size=require_int("kernel_size", kernel_size, 1),
        stride=require_int("stride", stride, 1),
        padding=require_int("padding", padding, 0),
        dilation=require_int("dilation", dilation, 1),
    )
    if geometry.effective_kernel_size > geometry.padded_size:
        raise ValueError(
            f"The kernel spans {geometry.effective_kernel_size} positions but the padded input "
            f"has only {geometry.padded_size} ({size} + 2×{padding}): use a smaller kernel or "
            f"dilation, more padding, or a bigger input."
        )
    return geometry


def conv_output_size(
    size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """``H2 = (H1 - FH + 2P) // S + 1`` with ``FH = dilation*(kernel_size-1) + 1``, as PyTorch."""
    return conv_geometry(size, kernel_size, stride, padding, dilation).output_size


def hwc(x: Tensor) -> str:
    """The height × width × channels of a volume, written as the notes write it: ``28×28×6``.

    ``x`` is one image or feature-map stack ``(C, H, W)`` or a batch of one ``(1, C, H, W)``;
    a kernel cube ``weight[k]`` of shape ``(C, FH, FW)`` reads ``5×5×3`` the same way.
    """
    if x.dim() == 4 and x.shape[0] == 1:
        x = x[0]
    if x.dim() != 3:
        raise ValueError(
            f"hwc() wants a (C, H, W) volume or a (1, C, H, W) batch, got shape {tuple(x.shape)}."
        )
    channels, height, width = x.shape
    return f"{height}×{width}×{channels}"


def _as_batch(x: Tensor, weight: Tensor) -> tuple[Tensor, bool]:
    if weight.dim() != 4:
        raise ValueError(
            f"weight must have shape (kernels, depth, FH, FW), got {tuple(weight.shape)}."
        )
    if x.dim() == 3:
        x, unbatched = x.unsqueeze(0), True
    elif x.dim() == 4:
        unbatched = False
    else:
        raise ValueError(f"x must have shape (C, H, W) or (N, C, H, W), got {tuple(x.shape)}.")
    if x.shape[1] != weight.shape[1]:
        raise ValueError(
            f"The kernel depth ({weight.shape[1]}) must equal the input depth ({x.shape[1]}): "
            f"a kernel is a cube that covers every input channel. Make the kernels "
            f"{weight.shape[2]}×{weight.shape[3]}×{x.shape[1]}."
        )
    return x, unbatched


def conv2d_loops(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
) -> Tensor:
    """A convolution written as the notes describe it, one output position at a time.

    At every position the patch under the kernel (``C × FH × FW`` numbers) is multiplied
    element-wise by each kernel cube and summed: one number per kernel, plus its bias.
    Same arguments and result as ``torch.nn.functional.conv2d``; slow, so keep inputs small.
    """
    x, unbatched = _as_batch(x, weight)
    (sh, sw), (ph, pw), (dh, dw) = (
        _pair("stride", stride, 1),
        _pair("padding", padding, 0),
        _pair("dilation", dilation, 1),
    )
    kh, kw = weight.shape[2], weight.shape[3]
    out_h = conv_output_size(x.shape[2], kh, sh, ph, dh)
    out_w = conv_output_size(x.shape[3], kw, sw, pw, dw)
    span_h, span_w = effective_kernel_size(kh, dh), effective_kernel_size(kw, dw)  # the dilated extent
    padded = F.pad(x, (pw, pw, ph, ph))  # zero padding: (left, right, top, bottom)
    out = x.new_zeros(x.shape[0], weight.shape[0], out_h, out_w)
    for i in range(out_h):
        for j in range(out_w):
            top, left = i * sh, j * sw
            patch = padded[:, :, top : top + span_h : dh, left : left + span_w : dw]
            # (N, 1, C, FH, FW) * (K, C, FH, FW): the inner product of the patch with each kernel
            out[:, :, i, j] = (patch.unsqueeze(1) * weight).sum(dim=(2, 3, 4))
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out[0] if unbatched else out


def conv2d_unfold(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
) -> Tensor:
    """The same convolution as one matrix product: ``unfold`` cuts out every patch at once.

    Each column of ``F.unfold(x)`` is one flattened patch; each row of the reshaped weight is
    one flattened kernel cube. Fast enough for a photograph.
    """
    x, unbatched = _as_batch(x, weight)
    stride, padding, dilation = (
        _pair("stride", stride, 1),
        _pair("padding", padding, 0),
        _pair("dilation", dilation, 1),
    )
    kh, kw = weight.shape[2], weight.shape[3]
    out_h = conv_output_size(x.shape[2], kh, stride[0], padding[0], dilation[0])
    out_w = conv_output_size(x.shape[3], kw, stride[1], padding[1], dilation[1])
    patches = F.unfold(x, (kh, kw), dilation=dilation, padding=padding, stride=stride)
    out = weight.reshape(weight.shape[0], -1) @ patches  # (K, C·FH·FW) @ (N, C·FH·FW, L)
    out = out.reshape(x.shape[0], weight.shape[0], out_h, out_w)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out[0] if unbatched else out


def conv_mult_adds(
    in_channels: int, out_channels: int, kernel_size: int, output_height: int, output_width: int
) -> int:
    """Multiply-adds of one convolution layer: every output number is a ``C·FH·FW`` inner product."""
    for name, value in [
        ("in_channels", in_channels),
        ("out_channels", out_channels),
        ("kernel_size", kernel_size),
        ("output_height", output_height),
        ("output_width", output_width),
    ]:
        require_int(name, value, 1)
    return out_channels * output_height * output_width * in_channels * kernel_size * kernel_size


def hand_made_kernels() -> dict[str, Tensor]:
    """Classic 3×3 kernels, each of shape ``(3, 3)``: two edge detectors (Sobel) and a blur.

    Edge kernels sum to 0 (a flat region gives 0); the blur sums to 1 (it keeps the brightness).
    """
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    blur = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16
    return {"vertical edges": sobel, "horizontal edges": sobel.T.contiguous(), "blur": blur}
