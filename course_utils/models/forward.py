"""Running a model on the run context's device: one way for training, predictions and features.

Four decisions go into every forward pass, and they are made here once: the **device** (the
context's), the **memory layout** (``channels_last`` for networks with 2-D convolutions, where
the context asks for it: measured faster on CPUs and GPUs), the **precision** (the context's
autocast: bf16/fp16 on CUDA, float32 elsewhere) and, for predictions, **no autograd at all**
(``torch.inference_mode()``). The training loop (:func:`~course_utils.training.loop.fit`), the
range test, predictions (:mod:`course_utils.analysis.predictions`) and cached features
(:mod:`course_utils.transfer.features`) all go through :func:`place` and :func:`forward`, so a
model is never run one way in training and another way in evaluation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import torch
from torch import nn

from course_utils.context import RunContext

__all__ = ["forward", "inference", "layout_for", "place", "to_device"]


def layout_for(model: nn.Module, context: RunContext) -> torch.memory_format:
    """``channels_last`` when the context asks for it and the model has 2-D convolutions to profit."""
    if context.channels_last and any(isinstance(m, nn.Conv2d) for m in model.modules()):
        return torch.channels_last
    return torch.contiguous_format


def place(model: nn.Module, context: RunContext) -> torch.memory_format:
    """Move ``model`` to the context's device in its layout; returns the layout its images should use."""
    layout = layout_for(model, context)
    if layout == torch.channels_last:
        model.to(context.device, memory_format=torch.channels_last)  # type: ignore[call-overload]
    else:
        model.to(context.device)
    return layout


def to_device(inputs: Any, context: RunContext, layout: torch.memory_format = torch.contiguous_format) -> Any:
    """Inputs on the context's device (non-blocking copies; 4-D images in ``layout``)."""
    if isinstance(inputs, torch.Tensor):
        if layout == torch.channels_last and inputs.dim() == 4:
            return inputs.to(context.device, non_blocking=True, memory_format=torch.channels_last)
        return inputs.to(context.device, non_blocking=True)
    if isinstance(inputs, (tuple, list)):
        return type(inputs)(to_device(x, context, layout) for x in inputs)
    raise TypeError(f"Inputs must be a tensor (or a tuple of tensors), got {type(inputs).__name__}.")


def forward(model: nn.Module, inputs: Any, context: RunContext,
            layout: torch.memory_format = torch.contiguous_format) -> Any:
    """``model(inputs)`` with the inputs on the context's device and at its precision (autocast)."""
    with context.autocast():
        return model(to_device(inputs, context, layout))


@contextlib.contextmanager
def inference(model: nn.Module, context: RunContext) -> Iterator[Callable[[Any], torch.Tensor]]:
    """Predictions without autograd: ``with inference(model, context) as run: scores = run(images)``.

    ``model`` is put in evaluation mode on the context's device and layout; ``run`` returns its
    output as float32 (whatever the autocast precision), still on the device.
    """
    layout = place(model.eval(), context)
    run = partial(forward, model, context=context, layout=layout)
    with torch.inference_mode():
        yield lambda inputs: run(inputs).float()
