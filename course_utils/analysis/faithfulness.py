"""Is a Grad-CAM map faithful? Hide what it points at, and see whether the model notices.

A heat map can look convincing and still not be what the model used. The occlusion test asks the
model itself: cover the square the map ranks highest with the images' mean colour (zeros, after
normalisation) and measure how much the probability of the explained class falls; then cover
squares of the same size at random places and measure the same. If the map points at the
evidence, hiding it costs more than hiding a random square. Over many photos the paired
differences, with their 95 % interval (:func:`course_utils.analysis.seeds.compare_paired`, the
course's noise rule for paired measurements), say whether the map beats chance: a faithfulness
figure with its spread (Samek et al., 2017, evaluate heat maps by such deletions).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from course_utils.analysis.seeds import Comparison, compare_paired
from course_utils.context import RunContext
from course_utils.models.forward import inference

__all__ = ["OcclusionTest", "hottest_square", "occlusion_test"]


def hottest_square(heatmap: torch.Tensor, size: int) -> tuple[int, int]:
    """Top-left ``(row, column)`` of the ``size × size`` square whose heat sums highest (inside the image)."""
    if heatmap.dim() != 2:
        raise ValueError(f"a heat map is (H, W); got shape {tuple(heatmap.shape)}.")
    height, width = heatmap.shape
    if not 1 <= size <= min(height, width):
        raise ValueError(f"the square's side must be between 1 and {min(height, width)}, got {size}.")
    sums = torch.nn.functional.avg_pool2d(heatmap[None, None].float(), size, stride=1)[0, 0]
    index = int(sums.flatten().argmax())
    return divmod(index, sums.shape[1])


@dataclass(frozen=True)
class OcclusionTest:
    """Per image: the probability drop when the map's hottest square is hidden, and the mean drop over
    random squares of the same size; their paired difference over all images is the verdict."""

    drop_hottest: torch.Tensor  # (N,)
    drop_random: torch.Tensor  # (N,): mean over the random squares of each image
    square: int

    @property
    def difference(self) -> Comparison:
        """Mean of (hottest − random) with its 95 % interval: positive and outside the noise = faithful."""
        return compare_paired((self.drop_hottest - self.drop_random).tolist())

    def __str__(self) -> str:
        return (f"hiding the hottest {self.square}×{self.square} square lowers the class probability by "
                f"{self.drop_hottest.mean():.3f} on average, a random one by {self.drop_random.mean():.3f} "
                f"({len(self.drop_hottest)} photos); hottest minus random: {self.difference}")


def occlusion_test(model: nn.Module, images: torch.Tensor, heatmaps: torch.Tensor, classes: torch.Tensor, *,
                   square: int, random_squares: int = 8, seed: int = 0, context: RunContext) -> OcclusionTest:
    """The occlusion test of ``heatmaps`` (N, H, W) for ``classes`` (N,) on normalised ``images`` (N, 3, H, W).

    Each image is run ``2 + random_squares`` times: as it is, with its hottest ``square`` hidden,
    and with ``random_squares`` squares of the same size hidden at places drawn by ``seed``.
    "Hidden" is zero in every channel: the mean colour of the normalised data. The drop is in the
    softmax probability of the explained class (what the model's confidence loses).
    """
    if images.dim() != 4 or heatmaps.shape != (images.shape[0], *images.shape[-2:]):
        raise ValueError(f"images (N, 3, H, W) and heatmaps (N, H, W) must match; got {tuple(images.shape)} "
                         f"and {tuple(heatmaps.shape)}.")
    classes = torch.as_tensor(classes).long()
    generator = torch.Generator().manual_seed(seed)
    height, width = images.shape[-2:]
    hottest, random_mean = [], []
    with inference(model, context) as run:
        for image, heatmap, target in zip(images, heatmaps, classes, strict=True):
            corners = [hottest_square(heatmap, square)]
            corners += [(int(torch.randint(0, height - square + 1, (1,), generator=generator)),
                         int(torch.randint(0, width - square + 1, (1,), generator=generator)))
                        for _ in range(random_squares)]
            batch = image.repeat(1 + len(corners), 1, 1, 1)
            for k, (top, left) in enumerate(corners, start=1):
                batch[k, :, top:top + square, left:left + square] = 0
            probability = torch.softmax(run(batch), dim=1)[:, int(target)].cpu()
            drops = probability[0] - probability[1:]
            hottest.append(drops[0])
            random_mean.append(drops[1:].mean())
    return OcclusionTest(torch.stack(hottest), torch.stack(random_mean), square)
