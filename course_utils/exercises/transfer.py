"""Checkers for notebook 06 (transfer learning): the notes' classification head, freezing a backbone
with the notes' ``set_parameter_requires_grad``, and the notebook's two predictions (what trains in
the notes' stage 1; how often the backbone sees each photo with and without cached features).
Checked on small models built here, or on the meta device, so that a check takes milliseconds and
needs no download. Every sentence goes through ``_()`` (the Chinese edition)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from course_utils.exercises.prediction import compare_prediction
from course_utils.exercises.verdict import Mistake, Verdict, attempt, checker, right
from course_utils.i18n import gettext as _
from course_utils.lessons.summary import count_parameters
from course_utils.training.notes_code import initialize_model

__all__ = ["check_backbone_passes", "check_freeze", "check_notes_head", "check_stage1_parameters"]


@checker
def check_notes_head(make_head: Callable[[int, int], nn.Module]) -> Verdict:
    """Check ``make_head(num_features, num_classes)``: the notes' ``Linear + LogSoftmax(dim=1)``."""
    features, classes = 32, 5
    head = attempt(make_head, features, classes, call=f"make_head({features}, {classes})")
    if not isinstance(head, nn.Module):
        raise Mistake(_("make_head must return an nn.Module (e.g. an nn.Sequential), not {type}.").format(
            type=type(head).__name__))
    x = torch.randn(4, features, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = attempt(head.eval(), x, call=_("the head on a batch of 4 feature vectors of {features}").format(
            features=features))
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (4, classes):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise Mistake(_("4 feature vectors should give scores of shape (4, {classes}), not {shape}.").format(
            classes=classes, shape=shape))
    expected = count_parameters(nn.Linear(features, classes, device="meta"))
    if count_parameters(head) == expected - classes:
        raise Mistake(_("your head has no bias: the notes' Linear layer keeps its bias, one per class."))
    if count_parameters(head) != expected:
        raise Mistake(_("your head has {count} parameters; one Linear layer from {features} features to "
                        "{classes} classes has {expected}.").format(
            count=count_parameters(head), features=features, classes=classes, expected=expected))
    rows = out.exp().sum(dim=1)
    if torch.allclose(rows, torch.ones(4), atol=1e-4):
        return right(_("scores of shape (4, 5) whose exponentials sum to 1 in each row: "
                       "log-probabilities, as NLLLoss expects."))
    if torch.allclose(out.sum(dim=1), torch.ones(4), atol=1e-4) and (out >= 0).all():
        raise Mistake(_("your head outputs probabilities (each row sums to 1); NLLLoss wants their "
                        "logarithm, so use LogSoftmax instead of Softmax."))
    if torch.allclose(out.exp().sum(dim=0), torch.ones(classes), atol=1e-4):
        raise Mistake(_("you normalise over the batch (dim=0): each image's scores must be normalised "
                        "over the classes, LogSoftmax(dim=1)."))
    raise Mistake(_("your head outputs raw scores: end it with LogSoftmax(dim=1) so that NLLLoss gets "
                    "log-probabilities."))


def _small_backbone() -> nn.Module:
    model = nn.Sequential()
    model.add_module("features", nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),
                                               nn.AdaptiveAvgPool2d(1), nn.Flatten()))
    model.add_module("fc", nn.Linear(8, 4))
    return model


@checker
def check_freeze(set_parameter_requires_grad: Callable[[nn.Module, bool], object]) -> Verdict:
    """Check ``set_parameter_requires_grad(model, feature_extract)``: freeze everything when
    ``feature_extract`` is True, change nothing when it is False."""
    frozen = _small_backbone()
    attempt(set_parameter_requires_grad, frozen, True, call="set_parameter_requires_grad(model, True)")
    still = [name for name, p in frozen.named_parameters() if p.requires_grad]
    if still:
        total = len(list(frozen.parameters()))
        if getattr(frozen, "requires_grad", None) is False:
            raise Mistake(_("model.requires_grad = False only sets an attribute on the module: set "
                            "requires_grad on each parameter, or call model.requires_grad_(False)."))
        raise Mistake(_("with feature_extract=True, {count} of {total} parameter tensors still train "
                        "({first}...): set requires_grad = False on every parameter.").format(
            count=len(still), total=total, first=still[0]))
    kept = _small_backbone()
    attempt(set_parameter_requires_grad, kept, False, call="set_parameter_requires_grad(model, False)")
    if not all(p.requires_grad for p in kept.parameters()):
        raise Mistake(_("with feature_extract=False nothing may be frozen: then every layer is fine-tuned."))
    frozen.fc = nn.Linear(8, 4)  # the notes replace the head after freezing: the new one trains
    trainable = count_parameters(frozen, trainable_only=True)
    return right(_("after freezing and a new head, only the head's {count} parameters train; with "
                   "feature_extract=False all do.").format(count=trainable))


@checker
def check_stage1_parameters(parameters: int, num_classes: int = 102) -> Verdict:
    """Predict how many parameters train in the notes' stage 1: ResNet-152 frozen, a new head for 102 classes."""
    with torch.device("meta"):  # the notes' model, shapes only: no download, no memory
        model, _input_size = initialize_model("resnet", num_classes, feature_extract=True, use_pretrained=False)
    linear = model.get_submodule("fc.0")  # the new head: Sequential(Linear, LogSoftmax)
    assert isinstance(linear, nn.Linear)
    features = linear.in_features
    return compare_prediction(
        parameters, count_parameters(model, trainable_only=True), what=_("the number of parameters that train"),
        because=_("only the new Linear({features}, {classes}) trains: {features}·{classes} weights and {classes} "
                  "biases; LogSoftmax has none, and everything before it is frozen.").format(
            features=features, classes=num_classes),
        slips=[(features * num_classes, _("the new Linear layer keeps its biases: one per class.")),
               (features * 1000 + 1000, _("that is ImageNet's old head, with 1,000 classes; the notes replace it "
                                          "by one for the flowers.")),
               (features * num_classes + features, _("there is one bias per output, that is per class, not per "
                                                     "input feature.")),
               (count_parameters(model), _("set_parameter_requires_grad froze every pretrained weight: only the "
                                           "layer created after it trains."))],
        hint=_("only the layer created after set_parameter_requires_grad trains."))


@checker
def check_backbone_passes(passes: tuple[int, int], epochs: int = 3) -> Verdict:
    """Predict how often each training photo goes through the frozen backbone in ``epochs`` epochs of
    stage 1: ``(the notes' loop, cached features)``."""
    return compare_prediction(
        passes, (epochs, 1), what=_("(backbone passes the notes' way, with cached features)"),
        because=_("the notes' loop runs the whole model on every photo in each of the {epochs} epochs; cached "
                  "features run the frozen backbone once and train the head on the stored vectors.").format(
            epochs=epochs),
        slips=[((epochs, epochs), _("cached features are computed once and reused in every epoch: that is "
                                    "their point.")),
               ((1, 1), _("the notes' loop calls model(inputs) on every batch of every epoch, frozen backbone "
                          "included: freezing stops the weights from changing, not the arithmetic.")),
               ((epochs, 0), _("the features have to be computed once, by one backbone pass.")),
               ((2 * epochs, 1), _("a training photo is seen once per epoch, in the training phase (the "
                                   "validation phase sees the other photos)."))],
        hint=_("count the epochs in which each route runs the backbone over a training photo."))
