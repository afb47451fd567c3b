"""Checking arguments the same way everywhere: one rule and one exception type for each mistake.

- a count that is not an integer is a ``TypeError``; an integer below its minimum is a
  ``ValueError`` (:func:`require_int`);
- a "model" that is not an ``nn.Module``, or an input shape that is not one example's shape,
  gets a message that says what to pass instead (:func:`require_module`,
  :func:`require_input_size`);
- an error from a library is quoted by its first line only (:func:`first_line`);
- a warning points at the learner's own call, not at the line inside the course that raised it
  (:func:`warn_caller`).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["first_line", "require_input_size", "require_int", "require_module", "require_square", "warn_caller"]

_PACKAGE = str(Path(__file__).resolve().parent)


def require_int(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` if it is an ``int`` (not a ``bool``) of at least ``minimum``; else a clear error."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__}).")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}.")
    return value


def require_module(model: Any) -> None:
    """A clear ``TypeError`` unless ``model`` is a ``torch.nn.Module``."""
    from torch import nn

    if not isinstance(model, nn.Module):
        raise TypeError(
            f"Expected a torch.nn.Module (a model or a layer), got {type(model).__name__}. "
            "Build the model first, e.g. torchvision.models.vgg16(), then pass it in."
        )


def require_input_size(input_size: Any) -> tuple[int, ...]:
    """The shape of ONE example as a tuple of positive ints (no batch dimension), or a clear error."""
    import torch

    if isinstance(input_size, torch.Size):
        input_size = tuple(input_size)
    ok = isinstance(input_size, Sequence) and not isinstance(input_size, str) and len(input_size) > 0
    if not ok or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in input_size):
        raise ValueError(
            f"input_size must be the shape of ONE example as positive integers, without the "
            f"batch dimension, e.g. (3, 224, 224) for an RGB image; got {input_size!r}."
        )
    return tuple(input_size)


def require_square(module: Any, attribute: str) -> int:
    """A layer's setting (``kernel_size``, ``stride``…) as one int, or a clear error if height and width differ."""
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


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (or its type's name when it has none)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def warn_caller(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` attributed to the first caller outside ``course_utils``.

    Python shows a warning with the file and line that raised it; inside the course that is an
    internal line a learner cannot act on. The warning is reported at the learner's own call
    instead (a notebook cell, a script), the way ``stacklevel`` would if its depth were known.
    """
    level, frame = 1, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        level, frame = level + 1, frame.f_back  # type: ignore[assignment]
    warnings.warn(message, category, stacklevel=level)
