"""A pretrained model's head: find it, replace it, record where it is, freeze the rest.

The notes' recipe, step by step: freeze (冻结) every pretrained weight
(:func:`set_parameter_requires_grad`), replace the last fully connected layer (全连接层) by a new
head for N classes, ``Sequential(Linear(num_ftrs, N), LogSoftmax(dim=1))``
(:func:`replace_head`), and list what will train (:func:`trainable_parameters`). Every model
keeps its classifier somewhere else (``fc``, ``classifier.6``, SqueezeNet's 1×1 convolution), so
where the new head went is recorded on the model when it is made (:class:`Head`), and the rest of
the course (cached features, stage 2, Grad-CAM) asks :func:`head_of` instead of guessing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from torch import nn

__all__ = ["Head", "classifier_name", "head_module", "head_of", "head_parameters", "record_head",
           "remove_classifier", "replace_head", "set_parameter_requires_grad", "trainable_parameters", "unfreeze"]


@dataclass(frozen=True)
class Head:
    """Where the new head is, recorded when it was made.

    ``name`` is the dotted name of the head module (``"fc"``, ``"classifier.1"``): the
    ``Linear`` layer, or the notes' ``Sequential(Linear, LogSoftmax)`` that holds it.
    ``dropout`` is the probability of the ``Dropout`` the model applies to the features just
    before the head in training mode (0 when there is none): training the head alone on cached
    features applies the same dropout, so it trains as it would inside the model.
    """

    name: str
    dropout: float = 0.0


def record_head(model: nn.Module, name: str, *, dropout: float = 0.0) -> Head:
    """Record that ``model``'s head is the submodule ``name`` (:func:`replace_head` does this for you)."""
    model.get_submodule(name)  # a clear AttributeError if there is no such submodule
    head = Head(name=name, dropout=float(dropout))
    model.course_head = head  # type: ignore[assignment]  # plain attribute: not in the state_dict
    return head


def head_of(model: nn.Module) -> Head:
    """The head that was recorded (see :class:`Head`), or a clear error."""
    head = getattr(model, "course_head", None)
    if not isinstance(head, Head):
        raise ValueError(
            f"This {type(model).__name__} was not built by build_model, so where its head is was not "
            "recorded. Call course_utils.models.heads.record_head(model, 'fc', dropout=...) with the "
            "name of its last layer first."
        )
    return head


def head_module(model: nn.Module) -> nn.Module:
    """The model's head (a ``Linear``, or the notes' ``Sequential(Linear, LogSoftmax)``), checked.

    Cached features need a head that maps one feature vector to the output: a clear error for
    a head that is not ``Linear`` (SqueezeNet classifies with a convolution).
    """
    name = head_of(model).name
    head = model.get_submodule(name)
    linear = head[0] if isinstance(head, nn.Sequential) and len(head) else head
    if not isinstance(linear, nn.Linear) or (isinstance(head, nn.Sequential)
                                             and any(list(m.parameters()) for m in list(head)[1:])):
        raise ValueError(
            f"The head of {type(model).__name__} ({name}) is a {type(head).__name__}, not a Linear layer "
            "(or Sequential(Linear, LogSoftmax)); cached features need such a head. Train this model with "
            "fit on images instead."
        )
    return head


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


def _leaves(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if not list(m.children())]


def _dropout_before(model: nn.Module, name: str) -> tuple[str | None, float]:
    """The ``Dropout`` created just before layer ``name`` (for these models, the one that runs just
    before it): its name and probability, or ``(None, 0.0)``."""
    leaves = _leaves(model)
    index = [n for n, _ in leaves].index(name)
    name_before, before = leaves[index - 1] if index else ("", None)
    if isinstance(before, nn.Dropout):
        return name_before, float(before.p)
    return None, 0.0


def remove_classifier(model: nn.Module) -> tuple[int, float]:
    """Take a pretrained model's last ``Linear`` (and the ``Dropout`` before it) out: it then returns
    its features. Returns ``(number of features, the dropout's probability)``."""
    name = classifier_name(model)
    old = model.get_submodule(name)
    if not isinstance(old, nn.Linear):
        raise ValueError(f"{type(model).__name__} classifies with a {type(old).__name__}, not a Linear layer: "
                         "it has no feature vector to combine.")
    dropout_name, dropout = _dropout_before(model, name)
    if dropout_name is not None:
        model.set_submodule(dropout_name, nn.Identity())
    model.set_submodule(name, nn.Identity())
    return old.in_features, dropout


def replace_head(model: nn.Module, num_classes: int, *, log_softmax: bool = True) -> nn.Module:
    """Put a new, trainable head for ``num_classes`` where the old classifier layer was; record it."""
    name = classifier_name(model)
    _, dropout = _dropout_before(model, name)
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
