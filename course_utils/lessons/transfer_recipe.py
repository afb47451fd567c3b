"""The two-stage transfer recipe as a picture: what is frozen, what trains, at which rate (06).

The notes' recipe: first train only a new head on a frozen pretrained backbone, then unfreeze
(part of) the backbone and train on, with smaller rates. :func:`transfer_recipe_diagram` draws
the two stages side by side from plain numbers, so that the notebook can pass the ones its
``TransferConfig`` holds and the picture cannot disagree with the run. Frozen boxes are gray
(``gid="frozen"``), boxes that train are coloured and say their learning rate (``gid="trains"``).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from course_utils.arguments import require_int

__all__ = ["transfer_recipe_diagram"]

_FROZEN, _BACKBONE, _HEAD = "#d9d9d9", "#9ecae1", "#a1d99b"

Group = tuple[str, float | None]
"""A part of the network and its learning rate; ``None``: frozen."""


def _rate(rate: float | None) -> str:
    return "frozen" if rate is None else f"trains, lr {rate:g}"


def _stack(ax: Axes, groups: Sequence[tuple[str, float | None, str]], title: str,
           backbone: tuple[str, int] | None = None) -> None:
    """Boxes from the bottom (images) to the top (scores); each box says its name and rate.
    ``backbone``: (its name, how many of the first boxes it spans), written along a bracket."""
    y = 0.0
    ax.text(0, y, "images", ha="center", va="center", fontsize=9.5)
    for name, rate, colour in groups:
        y += 1.0
        ax.add_patch(FancyArrowPatch((0, y - 0.7), (0, y - 0.33), arrowstyle="-|>", mutation_scale=10,
                                     color="black"))
        frozen = rate is None
        ax.add_patch(FancyBboxPatch((-1.3, y - 0.3), 2.6, 0.6, boxstyle="round,pad=0.02,rounding_size=0.08",
                                    facecolor=_FROZEN if frozen else colour, edgecolor="black",
                                    linestyle="--" if frozen else "-", gid="frozen" if frozen else "trains"))
        ax.text(0, y + 0.08, name, ha="center", va="center", fontsize=9.5, fontweight="bold")
        ax.text(0, y - 0.15, _rate(rate), ha="center", va="center", fontsize=8.5,
                color="0.35" if frozen else "black")
    ax.add_patch(FancyArrowPatch((0, y + 0.3), (0, y + 0.67), arrowstyle="-|>", mutation_scale=10, color="black"))
    if backbone is not None:
        name, boxes = backbone
        ax.plot([-1.45, -1.5, -1.5, -1.45], [0.7, 0.7, boxes + 0.3, boxes + 0.3], color="black", linewidth=1)
        ax.text(-1.58, (boxes + 1) / 2, name, rotation=90, ha="right", va="center", fontsize=9)
    ax.text(0, y + 1.0, "class scores", ha="center", va="center", fontsize=9.5)
    ax.set_xlim(-2.0, 1.6)
    ax.set_ylim(-0.5, y + 1.4)
    ax.set_title(title, fontsize=10)
    ax.axis("off")


def transfer_recipe_diagram(*, backbone: str = "pretrained backbone", head: str = "new head",
                            stage1_lr: float = 3e-3, stage1_epochs: int = 6,
                            stage2_backbone: Sequence[Group] = (("BatchNorm", None), ("convolutions", 1e-4)),
                            stage2_head_lr: float = 1e-4, stage2_epochs: int = 6) -> Figure:
    """Stage 1 (frozen ``backbone``, ``head`` trained at ``stage1_lr`` for ``stage1_epochs``) next
    to stage 2 (``stage2_backbone``: the backbone's parts, input side first, each with its rate or
    ``None`` for frozen; the head at ``stage2_head_lr``; ``stage2_epochs``)."""
    require_int("stage1_epochs", stage1_epochs, 1)
    require_int("stage2_epochs", stage2_epochs, 1)
    if not stage2_backbone:
        raise ValueError("stage2_backbone needs at least one part, e.g. (('early blocks', None), "
                         "('late blocks', 1e-4)); None means frozen.")
    rates = [("stage1_lr", stage1_lr), ("stage2_head_lr", stage2_head_lr)]
    rates += [(f"the rate of {name!r}", rate) for name, rate in stage2_backbone if rate is not None]
    for what, rate in rates:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0:
            raise ValueError(f"{what} must be a positive number (a learning rate), got {rate!r}.")
    fig, (first, second) = plt.subplots(1, 2, figsize=(7.6, 1.4 + 0.9 * (len(stage2_backbone) + 2)))
    _stack(first, [(backbone, None, _BACKBONE), (head, stage1_lr, _HEAD)],
           f"stage 1: {stage1_epochs} epoch{'s' if stage1_epochs > 1 else ''}, the head alone")
    parts = [(name, rate, _BACKBONE) for name, rate in stage2_backbone]
    _stack(second, [*parts, (head, stage2_head_lr, _HEAD)],
           f"stage 2: {stage2_epochs} epoch{'s' if stage2_epochs > 1 else ''}, fine-tuning",
           backbone=(backbone, len(parts)))
    fig.tight_layout()
    return fig
