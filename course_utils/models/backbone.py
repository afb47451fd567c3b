"""The frozen backbone for inference: the model without its head, BatchNorm folded into convolutions.

Stage 1 on cached features (:mod:`course_utils.transfer.features`) runs the frozen backbone once
over every image and keeps what enters the head. Since nothing trains in that pass, it can take
shortcuts that training cannot: :func:`inference_backbone` copies the model, replaces the head
by an ``Identity`` and folds every ``BatchNorm2d`` into the convolution before it;
:func:`checked_backbone` verifies on real images that the head applied to its output gives the
model's own output, and falls back to an unfolded copy (or refuses the model) when it does not.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from course_utils.context import RunContext
from course_utils.models.forward import to_device
from course_utils.models.heads import head_module, head_of

__all__ = ["checked_backbone", "inference_backbone"]


def inference_backbone(model: nn.Module, *, fold_batchnorm: bool = True) -> nn.Module:
    """A copy of ``model`` in evaluation mode whose output is what enters the head (the head is an Identity).

    With ``fold_batchnorm`` every ``BatchNorm2d`` that directly follows a ``Conv2d`` is folded
    into it. In evaluation mode BatchNorm is a fixed per-channel affine map,
    ``y = (x - mean) / sqrt(var + eps) * gamma + beta``, and a convolution followed by a fixed
    affine map is again a convolution, with rescaled weights and a new bias
    (``torch.nn.utils.fusion.fuse_conv_bn_eval``): one pass over the activations instead of
    two, the same numbers up to rounding. "Directly follows" is read from the order in which
    the layers were created, which is the order they run in for most networks;
        :func:`checked_backbone` checks the result against the real model and folds nothing when
    they disagree.
    """
    backbone = copy.deepcopy(model).eval()
    backbone.set_submodule(head_of(model).name, nn.Identity())
    if fold_batchnorm:
        leaves = [(name, m) for name, m in backbone.named_modules() if not list(m.children())]
        for (_, conv), (bn_name, bn) in zip(leaves, leaves[1:], strict=False):
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats:
                fused = fuse_conv_bn_eval(conv, bn)
                conv.weight, conv.bias = fused.weight, fused.bias
                backbone.set_submodule(bn_name, nn.Identity())
    for parameter in backbone.parameters():
        parameter.requires_grad_(False)
    return backbone


def checked_backbone(backbone: nn.Module, model: nn.Module, images: torch.Tensor, context: RunContext,
                     layout: torch.memory_format = torch.contiguous_format) -> nn.Module:
    """``backbone`` if the head on its output gives the model's output on ``images``; else an
    unfolded backbone that does; else a clear error (the model does something after its head).

    ``images`` are a batch on the CPU; the check runs on the context's device, in float32."""
    images = to_device(images, context, layout)
    if _agrees(model, backbone, images):
        return backbone
    if any(isinstance(m, nn.BatchNorm2d) for m in model.modules()):  # folding may have misread the order
        unfolded = inference_backbone(model, fold_batchnorm=False).to(context.device, memory_format=layout)  # type: ignore[call-overload]
        if _agrees(model, unfolded, images):
            return unfolded
    raise ValueError(
        f"The model's output is not its head ({head_of(model).name}) applied to the features that enter "
        "it: the model does something after the head, which cached features cannot reproduce. Train this "
        "model with fit on images instead."
    )


def _agrees(model: nn.Module, backbone: nn.Module, images: torch.Tensor) -> bool:
    """Does the head applied to the backbone's features give the model's own output on ``images``?

    Checked in float32 (no autocast): the question is whether the two compute the same thing,
    not how precisely. Rounding (TF32 convolutions on a GPU, folding) moves outputs by far less
    than the tolerance; a missing or extra step after the features moves them by far more.
    """
    was_training, home = model.training, next(model.parameters()).device
    try:
        model.eval().to(images.device)
        expected = model(images).float()
        got = head_module(model)(backbone(images).float()).float()
    finally:
        model.train(was_training).to(home)
    tolerance = 2e-2 * (1 + expected.abs().max().item())
    return bool(torch.allclose(got, expected, rtol=0, atol=tolerance))
