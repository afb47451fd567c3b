"""Grad-CAM: which part of the photo made the network say this class? (Selvaraju et al., 2017)

A convolutional network keeps a map of *where* until its last convolution: the feature maps
(特征图) of that layer are still a grid (5×5 for EfficientNet-Lite0 at 160 px), and global average
pooling then throws the grid away. Grad-CAM asks that layer two questions:

1. **What does each feature map show?** Its activations ``A[k]`` (one ``h × w`` map per channel),
   kept by a forward hook.
2. **How much does each feature map matter for class c?** The gradient of the class score
   ``y_c`` with respect to those activations, kept by a hook on the layer's output, averaged
   over the grid: one weight ``alpha[k] = mean over (i, j) of d y_c / d A[k, i, j]`` per channel.

The map is ``ReLU(sum over k of alpha[k] * A[k])``: the feature maps that push the score up,
added where they are active; ReLU keeps only what speaks *for* the class. Upsampled to the
image (bilinear), it is a heat map over the photo. The class score is what the model returns
for that class: use raw scores (logits), as the paper does; with the notes' ``LogSoftmax``
head the map explains the log-probability, i.e. the class *against* the others.

``tests/test_gradcam.py`` checks this file against Captum's ``LayerGradCam`` on the same model,
image, layer and class.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["GradCamResult", "HeatShares", "grad_cam", "heat_shares"]


@dataclass
class GradCamResult:
    """Grad-CAM of a batch: ``heatmaps`` (N, H, W) in [0, 1] at the image size, and what made them."""

    heatmaps: torch.Tensor  # (N, H, W): upsampled, each divided by its maximum (all zeros stay zero)
    raw: torch.Tensor  # (N, h, w): ReLU(sum_k alpha_k A_k) at the layer's resolution, not normalised
    weights: torch.Tensor  # (N, K): alpha, the spatially averaged gradients, one per feature map
    classes: torch.Tensor  # (N,): the class each map explains
    scores: torch.Tensor  # (N, num_classes): the model's outputs


def grad_cam(model: nn.Module, images: torch.Tensor, layer: nn.Module,
             classes: torch.Tensor | list[int] | int | None = None) -> GradCamResult:
    """Grad-CAM of ``model`` at ``layer`` for ``images`` (N, 3, H, W), one map per image.

    ``classes``: the class to explain for each image (one int for all, or one per image);
    None explains the predicted class. ``layer`` is a module of ``model`` whose output is a
    stack of feature maps (N, K, h, w), usually the last convolutional one. The model runs in
    evaluation mode (BatchNorm and dropout fixed, so images do not affect each other) and its
    weights are not changed; frozen weights are fine, since the gradient flows to the input.
    """
    if images.dim() != 4:
        raise ValueError(f"images must be a batch (N, 3, H, W); got shape {tuple(images.shape)}. "
                         "For one image, pass image.unsqueeze(0).")
    if not any(m is layer for m in model.modules()):
        raise ValueError("layer must be a module of model (e.g. model.bn1 or model.layer4), "
                         "not a copy or a layer of another model.")
    kept: dict[str, torch.Tensor] = {}

    def keep(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if not isinstance(output, torch.Tensor) or output.dim() != 4:
            raise ValueError(f"Grad-CAM needs a layer that outputs feature maps (N, K, h, w); "
                             f"{type(module).__name__} gave {getattr(output, 'shape', type(output))}.")
        kept["activations"] = output
        output.register_hook(lambda grad: kept.__setitem__("gradients", grad))

    was_training = model.training
    handle = layer.register_forward_hook(keep)
    try:
        model.eval()
        with torch.enable_grad():
            inputs = images.detach().clone().requires_grad_(True)  # a path for gradients even if frozen
            scores = model(inputs)
            if classes is None:
                targets = scores.argmax(dim=1)
            else:
                targets = torch.as_tensor(classes, device=scores.device).long().expand(scores.shape[0])
            scores.gather(1, targets[:, None]).sum().backward()  # images do not interact: one pass
    finally:
        handle.remove()
        model.train(was_training)
    activations, gradients = kept["activations"].detach(), kept["gradients"].detach()
    alpha = gradients.mean(dim=(2, 3))  # (N, K): how much each feature map matters for the class
    raw = F.relu((alpha[:, :, None, None] * activations).sum(dim=1))  # (N, h, w)
    upsampled = F.interpolate(raw[:, None], size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    peak = upsampled.amax(dim=(1, 2), keepdim=True)
    heatmaps = torch.where(peak > 0, upsampled / peak.clamp_min(1e-12), torch.zeros_like(upsampled))
    return GradCamResult(heatmaps=heatmaps.cpu(), raw=raw.cpu(), weights=alpha.cpu(),
                         classes=targets.detach().cpu(), scores=scores.detach().cpu())


@dataclass(frozen=True)
class HeatShares:
    """Where the heat of each map lies: the share of its mass near the edge and in the centre.

    A map spread evenly would put ``border_area`` of its mass on the border and ``centre_area`` in
    the centre; a map with more than ``border_area`` on the border points at the frame of the photo
    (a background, a watermark, a caption) more than at its middle, where the flower usually is.
    """

    border: torch.Tensor  # (N,): share of each map's mass within the margin of the edge
    centre: torch.Tensor  # (N,): share in the central square (the middle half of each side)
    border_area: float  # the border's share of the image's area
    centre_area: float  # the centre's share of the image's area

    @property
    def on_border(self) -> torch.Tensor:
        """(N,) booleans: the map puts more of its mass on the border than an even spread would."""
        return self.border > self.border_area


def heat_shares(heatmaps: torch.Tensor, *, margin: float = 0.125) -> HeatShares:
    """The share of each heat map's (N, H, W) mass on the border (within ``margin`` of the side from
    any edge) and in the central square (from a quarter to three quarters of each side).

    An all-zero map has no mass to share: its shares are NaN.
    """
    if heatmaps.dim() != 3:
        raise ValueError(f"heatmaps must be a batch (N, H, W); got shape {tuple(heatmaps.shape)}.")
    if not 0 < margin < 0.5:
        raise ValueError(f"margin is a fraction of the side between 0 and 0.5 (exclusive), got {margin}.")
    _, height, width = heatmaps.shape
    rows, columns = torch.arange(height)[:, None], torch.arange(width)[None, :]
    top, left = round(margin * height), round(margin * width)
    border = (rows < top) | (rows >= height - top) | (columns < left) | (columns >= width - left)
    centre = ((rows >= height // 4) & (rows < height - height // 4)
              & (columns >= width // 4) & (columns < width - width // 4))
    maps = heatmaps.detach().double().cpu()
    total = maps.sum(dim=(1, 2))
    total = torch.where(total > 0, total, torch.full_like(total, float("nan")))
    return HeatShares(border=((maps * border).sum(dim=(1, 2)) / total).float(),
                      centre=((maps * centre).sum(dim=(1, 2)) / total).float(),
                      border_area=float(border.double().mean()), centre_area=float(centre.double().mean()))
