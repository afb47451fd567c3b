"""Looking inside a trained network: first-layer filters (卷积核) and feature maps (特征图) at any depth.

The notes say one convolution is not enough: stacked layers give low-level, mid-level and
high-level features. Two small tools let a notebook see it on a real model:

- :func:`capture_activations` runs a model once and keeps the outputs of chosen layers
  (forward hooks, removed afterwards);
- :func:`filter_pictures` turns first-layer kernels into small RGB pictures (each kernel
  stretched to [0, 1] on its own), so that colour and edge detectors can be told apart.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

__all__ = ["capture_activations", "filter_pictures", "strongest_maps"]


@torch.no_grad()
def capture_activations(model: nn.Module, images: torch.Tensor, layers: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
    """``{name: output of layer}`` for one forward pass of ``model`` (in evaluation mode) over ``images``."""
    if not layers:
        raise ValueError("Name at least one layer, e.g. {'low': model.blocks[1]}.")
    for name, layer in layers.items():
        if not any(m is layer for m in model.modules()):
            raise ValueError(f"layers[{name!r}] is not a module of this model.")
    kept: dict[str, torch.Tensor] = {}
    handles = [layer.register_forward_hook(lambda _m, _i, out, name=name: kept.__setitem__(name, out.detach().cpu()))
               for name, layer in layers.items()]
    was_training = model.training
    try:
        model.eval()(images)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return {name: kept[name] for name in layers}


def filter_pictures(weight: torch.Tensor) -> torch.Tensor:
    """First-layer kernels ``(K, 3, kh, kw)`` as pictures in [0, 1], each min-max stretched on its own."""
    if weight.dim() != 4 or weight.shape[1] != 3:
        raise ValueError(f"Expected RGB kernels (K, 3, kh, kw), got {tuple(weight.shape)}: the first layer's weight.")
    w = weight.detach().float().cpu()
    low = w.amin(dim=(1, 2, 3), keepdim=True)
    high = w.amax(dim=(1, 2, 3), keepdim=True)
    return (w - low) / (high - low).clamp_min(1e-12)


def strongest_maps(maps: torch.Tensor, n: int = 8) -> tuple[torch.Tensor, list[int]]:
    """The ``n`` feature maps of one image (K, h, w) with the largest mean activation, and their channel numbers."""
    if maps.dim() == 4 and maps.shape[0] == 1:
        maps = maps[0]
    if maps.dim() != 3:
        raise ValueError(f"Feature maps of one image are (K, h, w); got {tuple(maps.shape)}.")
    order = maps.mean(dim=(1, 2)).argsort(descending=True)[:n].tolist()
    return maps[order], order
