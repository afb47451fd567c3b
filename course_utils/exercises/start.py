"""Checkers for notebook 00 (start here): a convolution output by hand, and the online check.

Every sentence a learner reads goes through ``_()`` (:mod:`course_utils.i18n`), so that the
Chinese notebook's checks answer in Chinese; the values are filled in by name after translation.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from numbers import Real

import torch
import torch.nn.functional as F

from course_utils import env
from course_utils.exercises.verdict import Mistake, Verdict, attempt, checker, right
from course_utils.i18n import gettext as _

__all__ = ["check_offline_wait", "check_output_at"]


def _cases() -> list[tuple[torch.Tensor, torch.Tensor, int, int]]:
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 8, 8, generator=generator)
    small = torch.rand(1, 3, 3, 3, generator=generator)
    large = torch.rand(1, 3, 5, 5, generator=generator)
    return [(image, small, 0, 0), (image, small, 2, 4), (image, small, 5, 1), (image, large, 1, 3)]


@checker
def check_output_at(output_at: Callable[..., torch.Tensor]) -> Verdict:
    """Check ``output_at(image, kernel, row, col)``: one output of ``F.conv2d(image, kernel)`` by hand.

    ``image`` is ``(1, C, H, W)``, ``kernel`` is ``(1, C, KH, KW)``; the answer is one number.
    """
    for image, kernel, row, col in _cases():
        call = f"output_at(image, kernel, {row}, {col})"
        size = kernel.shape[-1]
        try:
            value = attempt(output_at, image, kernel, row, col, call=call)
        except Mistake:
            if size == 3:
                raise
            raise Mistake(_("{call} fails for a {size}×{size} kernel: take the window's size from "
                            "kernel.shape instead of assuming 3×3.").format(call=call, size=size)) from None
        if value is None:
            raise Mistake(_("{call} returned None: end your function with `return` and the number.").format(call=call))
        value = torch.as_tensor(value)
        if value.numel() != 1:
            raise Mistake(
                _("{call} returned a tensor of shape {shape}, not one number: sum the products over "
                  "the channels as well as over the window.").format(call=call, shape=tuple(value.shape))
            )
        expected = F.conv2d(image, kernel)[0, 0]
        if torch.allclose(value.float(), expected[row, col], atol=1e-5):
            continue
        if row != col and torch.allclose(value.float(), expected[col, row], atol=1e-5):
            raise Mistake(
                _("{call} is PyTorch's output at row {col}, column {row}: rows come first, so index "
                  "the image as image[0, :, rows, columns].").format(call=call, row=row, col=col)
            )
        if size != 3:
            raise Mistake(
                _("{call} is wrong for a {size}×{size} kernel: take the window's size from "
                  "kernel.shape instead of assuming 3×3.").format(call=call, size=size)
            )
        raise Mistake(
            _("{call} is {value:.4f} but F.conv2d gives {expected:.4f}: the output is the sum of the "
              "{size}×{size} patch starting at (row, col) times the kernel.").format(
                call=call, value=value.item(), expected=expected[row, col].item(), size=size)
        )
    return right(_("your hand computation equals F.conv2d at every position tried, for 3×3 and 5×5 kernels."))


@checker
def check_offline_wait(seconds: float) -> Verdict:
    """Check how many seconds ``environment_report`` waits before it decides you are offline."""
    expected = inspect.signature(env.is_online).parameters["timeout"].default
    if isinstance(seconds, bool) or not isinstance(seconds, Real):
        raise Mistake(_("give a number of seconds, not {type}.").format(type=type(seconds).__name__))
    if seconds == expected:
        return right(_("is_online gives up after {seconds:g} seconds (its `timeout` argument).").format(seconds=expected))
    if seconds == env.DOWNLOAD_STALL_SECONDS:
        raise Mistake(
            _("that is how long a download that has started may stall (DOWNLOAD_STALL_SECONDS); "
              "the online check itself is the function that environment_report calls first.")
        )
    raise Mistake(
        _("{seconds:g} seconds is not it: find the function that environment_report calls to test "
          "the network, and read the default of its `timeout` argument.").format(seconds=seconds)
    )
