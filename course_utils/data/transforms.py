"""The notes' data augmentation for the flowers, and the matching evaluation transform.

Training images get a new random variation every epoch (数据增强 data augmentation):
resize, random rotation, a centre crop, horizontal and vertical flips, colour jitter,
random grayscale, then normalisation. Validation and test images, and any single image
you predict, get only the deterministic part: the same resize, crop and normalisation.

``image_size`` is a parameter (224 as in the notes; smaller in fast mode), and so are
the normalisation constants: each pretrained backbone expects the statistics it was
trained with (see :func:`course_utils.models.build.preprocessing_for`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import torch
from torchvision import transforms as T

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "TransformSettings",
    "augmentation_gallery",
    "augmentation_steps",
    "denormalize",
    "eval_transform",
    "train_transform",
]

if TYPE_CHECKING:
    pass

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class TransformSettings:
    """Everything that decides how an image becomes a tensor; stored in every checkpoint."""

    image_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    rotation: float = 45.0  # degrees, either way
    jitter: tuple[float, float, float, float] = (0.2, 0.1, 0.1, 0.1)  # brightness, contrast, saturation, hue
    grayscale_p: float = 0.025
    resize_to: int | None = None  # shorter side before the crop; None: in proportion 256/224

    @property
    def resize(self) -> int:
        """The shorter side before cropping: ``resize_to``, else 256 for a 224 crop (in proportion).

        The ImageNet habit (256, then the central 224) drops an eighth of each side. For photos
        that are already small (the real subset's shorter side is 160 px), ``resize_to=image_size``
        keeps the whole shorter side.
        """
        return self.resize_to if self.resize_to is not None else round(self.image_size * 256 / 224)

    def to_dict(self) -> dict:
        """Plain types only, so that a checkpoint can be loaded with ``weights_only=True``."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TransformSettings:
        """The inverse of :meth:`to_dict`."""
        fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**fields)


def augmentation_steps(settings: TransformSettings = TransformSettings()) -> dict[str, torch.nn.Module]:
    """The training augmentation, one named step at a time (PIL image in, PIL image out)."""
    brightness, contrast, saturation, hue = settings.jitter
    return {
        "resize": T.Resize(settings.resize),
        "random rotation": T.RandomRotation(settings.rotation),
        "centre crop": T.CenterCrop(settings.image_size),
        "horizontal flip": T.RandomHorizontalFlip(p=0.5),
        "vertical flip": T.RandomVerticalFlip(p=0.5),
        "colour jitter": T.ColorJitter(brightness, contrast, saturation, hue),
        "random grayscale": T.RandomGrayscale(p=settings.grayscale_p),
    }


def augmentation_gallery(image, settings: TransformSettings = TransformSettings(), seed: int = 0) -> dict[str, object]:
    """One photo under each training step on its own, then under all of them (PIL images).

    Every picture starts from the resized, centre-cropped photo so that they compare. The
    random steps draw their randomness from ``seed``; the flips and the grayscale are shown
    as they look when they fire (in training they fire with the probability in the title).
    """
    steps = augmentation_steps(settings)
    brightness, contrast, saturation, hue = settings.jitter
    base = T.Compose([steps["resize"], steps["centre crop"]])
    alone = {
        f"original ({settings.image_size} px)": base,
        f"random rotation (±{settings.rotation:g}°)": T.Compose(
            [steps["resize"], steps["random rotation"], steps["centre crop"]]),
        "horizontal flip (p=0.5)": T.Compose([base, T.RandomHorizontalFlip(p=1.0)]),
        "vertical flip (p=0.5)": T.Compose([base, T.RandomVerticalFlip(p=1.0)]),
        "colour jitter": T.Compose([base, T.ColorJitter(brightness, contrast, saturation, hue)]),
        f"grayscale (p={settings.grayscale_p:g})": T.Compose([base, T.Grayscale(num_output_channels=3)]),
        "all steps, as in training": T.Compose(list(steps.values())),
    }
    image = image.convert("RGB")
    gallery = {}
    for i, (name, transform) in enumerate(alone.items()):
        torch.manual_seed(seed * 100 + i)
        gallery[name] = transform(image)
    return gallery


def train_transform(settings: TransformSettings = TransformSettings()) -> T.Compose:
    """Augment, then turn into a normalised tensor: what every training image goes through."""
    steps = list(augmentation_steps(settings).values())
    return T.Compose([*steps, T.ToTensor(), T.Normalize(settings.mean, settings.std)])


def eval_transform(settings: TransformSettings = TransformSettings()) -> T.Compose:
    """Resize, centre crop, normalise: no randomness, for validation, test and prediction."""
    return T.Compose(
        [
            T.Resize(settings.resize),
            T.CenterCrop(settings.image_size),
            T.ToTensor(),
            T.Normalize(settings.mean, settings.std),
        ]
    )


def denormalize(
    images: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> torch.Tensor:
    """Undo ``Normalize`` so that a tensor can be shown: values back in [0, 1].

    Works on one image (C, H, W) or a batch (N, C, H, W).
    """
    shape = (-1, 1, 1)
    mean_t = torch.as_tensor(mean, dtype=images.dtype, device=images.device).view(shape)
    std_t = torch.as_tensor(std, dtype=images.dtype, device=images.device).view(shape)
    return (images * std_t + mean_t).clamp(0, 1)
