"""What torchvision's model families return, described in one line each.

The notes list what ``torchvision.models`` offers besides classifiers: semantic segmentation,
object detection (and instance segmentation, keypoints), video classification. Each family
returns something different (a tensor of scores, a dict of maps, a list of dicts of boxes),
and :func:`describe_output` writes that structure down: types, keys and shapes, no values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

__all__ = ["describe_output"]


def describe_output(output: Any, indent: int = 0) -> str:
    """The structure of a model's output as indented text: ``Tensor[1, 1000] float32``, dict keys, list items.

    Shapes whose size depends on the values (the number of boxes a detector finds) print as
    they are; compare such lines only for a fixed model, input and seed.
    """
    pad = "  " * indent
    if isinstance(output, torch.Tensor):
        return f"{pad}Tensor{list(output.shape)} {str(output.dtype).removeprefix('torch.')}"
    if isinstance(output, Mapping):
        lines = [f"{pad}{type(output).__name__} with {len(output)} keys:"]
        for key, value in output.items():
            inner = describe_output(value, indent + 1).lstrip()
            lines.append(f"{pad}  {key!r}: {inner}" if "\n" not in inner else f"{pad}  {key!r}:\n{describe_output(value, indent + 2)}")
        return "\n".join(lines)
    if isinstance(output, (list, tuple)):
        lines = [f"{pad}{type(output).__name__} of {len(output)}:"]
        lines += [describe_output(item, indent + 1) for item in output]
        return "\n".join(lines)
    return f"{pad}{type(output).__name__}"
