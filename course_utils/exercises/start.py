"""Checkers for notebook 00 (start here): a convolution output by hand, and the online check."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from numbers import Real

import torch
import torch.nn.functional as F

from course_utils import env
from course_utils.exercises.verdict import Mistake, Verdict, attempt, checker, right

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
            raise Mistake(f"{call} fails for a {size}×{size} kernel: take the window's size from "
                          f"kernel.shape instead of assuming 3×3.") from None
        if value is None:
            raise Mistake(f"{call} returned None: end your function with `return` and the number.")
        value = torch.as_tensor(value)
        if value.numel() != 1:
            raise Mistake(
                f"{call} returned a tensor of shape {tuple(value.shape)}, not one number: sum the "
                f"products over the channels as well as over the window."
            )
        expected = F.conv2d(image, kernel)[0, 0]
        if torch.allclose(value.float(), expected[row, col], atol=1e-5):
            continue
        if row != col and torch.allclose(value.float(), expected[col, row], atol=1e-5):
            raise Mistake(
                f"{call} is PyTorch's output at row {col}, column {row}: rows come first, "
                f"so index the image as image[0, :, rows, columns]."
            )
        if size != 3:
            raise Mistake(
                f"{call} is wrong for a {size}×{size} kernel: take the window's size from "
                f"kernel.shape instead of assuming 3×3."
            )
        raise Mistake(
            f"{call} is {value.item():.4f} but F.conv2d gives {expected[row, col].item():.4f}: the "
            f"output is the sum of the {size}×{size} patch starting at (row, col) times the kernel."
        )
    return right("your hand computation equals F.conv2d at every position tried, for 3×3 and 5×5 kernels.")


@checker
def check_offline_wait(seconds: float) -> Verdict:
    """Check how many seconds ``environment_report`` waits before it decides you are offline."""
    expected = inspect.signature(env.is_online).parameters["timeout"].default
    if isinstance(seconds, bool) or not isinstance(seconds, Real):
        raise Mistake(f"give a number of seconds, not {type(seconds).__name__}.")
    if seconds == expected:
        return right(f"is_online gives up after {expected:g} seconds (its `timeout` argument).")
    if seconds == env.DOWNLOAD_STALL_SECONDS:
        raise Mistake(
            "that is how long a download that has started may stall (DOWNLOAD_STALL_SECONDS); "
            "the online check itself is the function that environment_report calls first."
        )
    raise Mistake(
        f"{seconds:g} seconds is not it: find the function that environment_report calls to test "
        f"the network, and read the default of its `timeout` argument."
    )
