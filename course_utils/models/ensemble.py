"""Several pretrained backbones side by side, one new head on all their features.

A frozen backbone turns a photo into a feature vector; the head is a linear classifier on it.
Nothing forces one backbone: EfficientNet-Lite0, Lite1 and Lite2 were trained separately and
describe a photo in three different ways, so a head that reads the three vectors end to end
(1,280 + 1,280 + 1,280 numbers) has more to go on than any one of them. On the real flowers
subset (20 photos per class) the head on all three reached 89.9 % against Lite0's 87.3 %, where
Lite1 or Lite2 alone brought nothing; on 818 validation photos that gain is within the noise,
and a cross-validation on the training photos shows it more clearly (benchmarks/RESULTS.md,
"Flowers-102 results", and ``python -m benchmarks.backbones``).

:func:`~course_utils.models.build.build_model` builds one by joining names with ``+``:
``build_model("efficientnet_lite0+efficientnet_lite1+efficientnet_lite2", 102)``. Every member
sees the same image (one transform, one size), and the result is an ordinary model: its head is
recorded like any other (``fc``), so cached features, stage 1 and 2, checkpoints and prediction
work on it unchanged. What it costs: one forward pass per member, in every pass.
"""

from __future__ import annotations

import torch
from torch import nn

from course_utils.models.heads import remove_classifier

__all__ = ["SEPARATOR", "BackboneEnsemble", "member_names"]

SEPARATOR = "+"


def member_names(name: str) -> list[str]:
    """The models an ensemble's name joins: ``"a+b"`` → ``["a", "b"]`` (a plain name → ``[name]``)."""
    members = [part.strip() for part in name.split(SEPARATOR)]
    if any(not part for part in members):
        raise ValueError(f"{name!r} has an empty model name; join names with '+', e.g. "
                         "'efficientnet_lite0+efficientnet_lite1'.")
    if len(set(members)) != len(members):
        raise ValueError(f"{name!r} names a model twice: the same weights twice add nothing.")
    return members


class BackboneEnsemble(nn.Module):
    """Pretrained networks without their classifiers, features concatenated, then ``dropout`` and ``fc``.

    ``members`` maps a name to a model whose classifier :func:`remove_classifier` took out, so
    that it returns its feature vector. ``fc`` starts as a 1,000-class layer, like a pretrained
    model's, for :func:`~course_utils.models.build.build_model` to replace.
    """

    def __init__(self, members: dict[str, nn.Module], widths: list[int], dropout: float = 0.0) -> None:
        super().__init__()
        self.members = nn.ModuleDict(members)
        self.widths = list(widths)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(sum(widths), 1000)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Every member's features of the same images, end to end: (N, sum of widths)."""
        return torch.cat([member(x) for member in self.members.values()], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.features(x)))

    @classmethod
    def of(cls, members: dict[str, nn.Module]) -> BackboneEnsemble:
        """Take each model's classifier out and put one ``fc`` on all their features."""
        widths, dropouts = [], []
        for model in members.values():
            width, dropout = remove_classifier(model)
            widths.append(width)
            dropouts.append(dropout)
        return cls(members, widths, dropout=max(dropouts))
