"""A backbone cut before its last stage: the frozen part runs once, the last stage trains.

How much of a pretrained network to fine-tune (冻住多少层) is a choice between the head alone and
everything; in between, the **last stage** (the layers at the coarsest resolution, which build
the most task-specific features) trains and the rest stays frozen. Cut there, the frozen prefix
can run once per image and the experiment pays only for the last stage in every epoch.
:func:`split_last_stage` cuts the two families the course uses; both halves share the model's
own modules (training them trains the model).

- **EfficientNet-Lite**: the prefix is the stem and the blocks before the last stride-2 block;
  the last stage is those blocks and the 1×1 head convolution.
- **ResNet**: the prefix is the stem and ``layer1``-``layer3``; the last stage is ``layer4``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from course_utils.models.efficientnet_lite import EfficientNetLite
from course_utils.models.heads import head_module, head_of

__all__ = ["LastStage", "LastStageSplit", "split_last_stage"]


class LastStage(nn.Module):
    """The last stage, pooling and the model's head: ``features(x)`` stops before the head."""

    def __init__(self, layers: nn.Sequential, head: nn.Module, dropout: float) -> None:
        super().__init__()
        self.layers, self.head, self.dropout = layers, head, nn.Dropout(dropout)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """What enters the head: the pooled features of the last stage."""
        return self.layers(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


@dataclass
class LastStageSplit:
    """``suffix(prefix(images))`` is the model's output; ``trainable`` are the last stage's modules."""

    prefix: nn.Sequential
    suffix: LastStage
    trainable: list[nn.Module]


def split_last_stage(model: nn.Module) -> LastStageSplit:
    """Cut a model built by ``build_model`` (an EfficientNet-Lite or a ResNet) before its last stage."""
    head = head_module(model)
    dropout = head_of(model).dropout
    if isinstance(model, EfficientNetLite):
        strides = [block.depthwise_conv.stride[0] for block in model.blocks]  # type: ignore[index]
        cut = max(i for i, s in enumerate(strides) if s == 2)
        last = [*model.blocks[cut:], model.conv_head]
        prefix = nn.Sequential(model.conv_stem, model.bn0, nn.ReLU6(), *model.blocks[:cut])
        layers = nn.Sequential(*model.blocks[cut:], model.conv_head, model.bn1, nn.ReLU6(),
                               nn.AdaptiveAvgPool2d(1), nn.Flatten())
        return LastStageSplit(prefix, LastStage(layers, head, dropout), last)
    if all(hasattr(model, name) for name in ("conv1", "bn1", "relu", "maxpool", "layer3", "layer4", "avgpool")):
        part = model.get_submodule
        prefix = nn.Sequential(*(part(name) for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3")))
        layers = nn.Sequential(part("layer4"), part("avgpool"), nn.Flatten())
        return LastStageSplit(prefix, LastStage(layers, head, dropout), [part("layer4")])
    raise ValueError(f"No 'last stage' is defined for {type(model).__name__}: use an EfficientNet-Lite or a "
                     "ResNet, or the depths 'head' and 'all'.")
