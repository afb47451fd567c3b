"""Checkers for notebook 03 (parameter counting): a convolution's parameters, the notes'
network with doubled widths, and the notebook's three predictions (a layer's parameters on a
larger image, AlexNet's first layer on 224×224, the notes' count of layers). The expected counts come from PyTorch layers built on the ``meta``
device (shapes only, no memory), counted with the course's ``count_parameters``. Every sentence goes
through ``_()`` (:mod:`course_utils.i18n`): the Chinese notebook's checks answer in Chinese."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from numbers import Integral

import torch
from torch import nn

from course_utils.exercises.prediction import compare_prediction, compare_side
from course_utils.exercises.verdict import Mistake, Verdict, attempt, checker, right
from course_utils.i18n import gettext as _
from course_utils.lessons.conv import conv_geometry
from course_utils.lessons.summary import count_parameters, layer_table

__all__ = [
    "check_alexnet_side",
    "check_conv_parameters",
    "check_doubled_widths",
    "check_notes_layers",
    "check_parameters_at_224",
]

def _slips() -> list[tuple[Callable[[int, int, int, bool], int], str]]:
    """The usual slips, each as the count it gives and its sentence (translated when the check runs)."""
    return [
        (lambda i, o, k, b: k * k * i * o,
         _("you forgot the biases: each kernel has one, so a layer has C_out more parameters.")),
        (lambda i, o, k, b: k * k * i * o + o,
         _("with bias=False the layer has no biases: count them only when bias is True.")),
        (lambda i, o, k, b: k * k * o + o * b,
         _("a kernel is as deep as its input, so each one has k·k·C_in weights: multiply by C_in.")),
        (lambda i, o, k, b: k * i * o + o * b,
         _("a kernel is k×k, so it has k·k weights per input channel, not k.")),
        (lambda i, o, k, b: k * k * i * o + i * b,
         _("there is one bias per kernel, that is per output channel: C_out biases, not C_in.")),
    ]


@checker
def check_conv_parameters(conv_parameters: Callable[..., int]) -> Verdict:
    """Check ``conv_parameters(c_in, c_out, k, bias=True)`` against ``nn.Conv2d``'s count."""
    settings = list(itertools.product((1, 3, 16), (1, 10, 64), (1, 3, 5), (True, False)))
    answers = {}
    for c_in, c_out, k, bias in settings:
        call = f"conv_parameters({c_in}, {c_out}, {k}, bias={bias})"
        value = attempt(conv_parameters, c_in, c_out, k, bias=bias, call=call)
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise Mistake(_("{call} returned {value}; a number of parameters is a whole number (int).").format(
                call=call, value=repr(value)))
        answers[c_in, c_out, k, bias] = value
    expected = {
        (i, o, k, b): count_parameters(nn.Conv2d(i, o, k, bias=b, device="meta"))
        for i, o, k, b in settings
    }
    if answers == expected:
        return right(_("your count equals nn.Conv2d's in all {count} settings tried.").format(count=len(settings)))
    for formula, sentence in _slips():
        if all(answers[s] == formula(*s) for s in settings):
            raise Mistake(sentence)
    first = next(s for s in settings if answers[s] != expected[s])
    raise Mistake(_("conv_parameters{args} with bias={bias} gives {value}, nn.Conv2d has {expected}.").format(
        args=first[:3], bias=first[3], value=answers[first], expected=expected[first]))


def _notes_network(widths: Sequence[int], size: int = 32, classes: int = 10) -> nn.Sequential:
    """The notes' CONV-RELU-CONV-RELU-POOL ×3 + FC network (3×3 convolutions, padding 1) on meta."""
    layers: list[nn.Module] = []
    channels = 3
    with torch.device("meta"):
        for width in widths:
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            channels = width
        side = size // 2 ** len(widths)
        layers += [nn.Flatten(), nn.Linear(channels * side * side, classes)]
    return nn.Sequential(*layers)


@checker
def check_doubled_widths(counts: Sequence[int], widths: Sequence[int] = (32, 64, 128)) -> Verdict:
    """Check the parameters of each convolution of the notes' network with the given widths."""
    convs = [m for m in _notes_network(widths) if isinstance(m, nn.Conv2d)]
    expected = [count_parameters(m) for m in convs]
    try:
        answer = list(counts)
    except TypeError:
        raise Mistake(_("give a list of {count} numbers, one per convolution.").format(count=len(convs))) from None
    if len(answer) != len(convs):
        raise Mistake(_("the network has {count} convolutions (two per group), your list has {given} "
                        "numbers.").format(count=len(convs), given=len(answer)))
    if answer == expected:
        grew = max(range(len(convs)), key=lambda i: expected[i])
        return right(_("all {count} counts match; convolution {number} ({c_in} → {c_out} channels) is the "
                       "largest.").format(count=len(convs), number=grew + 1, c_in=convs[grew].in_channels,
                                          c_out=convs[grew].out_channels))
    if all(a == e - m.out_channels for a, e, m in zip(answer, expected, convs, strict=True)):
        raise Mistake(_("each count is C_out too small: you forgot the biases, one per kernel."))
    index = next(i for i, (a, e) in enumerate(zip(answer, expected, strict=True)) if a != e)
    conv = convs[index]
    raise Mistake(
        _("convolution {number} is wrong: it reads {c_in} channels and writes {c_out}, with 3×3 kernels and "
          "one bias per kernel.").format(number=index + 1, c_in=conv.in_channels, c_out=conv.out_channels)
    )


# --- predictions: the learner answers before the cell that shows it ---------------------------


@checker
def check_parameters_at_224(count: int, small: int = 32, large: int = 224) -> Verdict:
    """Predict the parameters of 10 kernels of 5×5×3 (with biases) when the image is 224×224, not 32×32."""
    layer = nn.Conv2d(3, 10, 5, device="meta")
    expected = count_parameters(layer)
    weights = layer.weight.numel()
    return compare_prediction(
        count, expected, what=_("the number of parameters"),
        because=_("the same {count} kernels slide over every position, whatever the image size.").format(
            count=layer.out_channels),
        slips=[
            (expected * large * large // (small * small), _("the parameters do not grow with the image: the same "
                                                            "kernels are used at every position (parameter "
                                                            "sharing); only the output grows.")),
            (weights, _("you forgot the biases: one per kernel.")),
        ],
        hint=_("F·F·C_in·C_out + C_out has no H or W in it."))


@checker
def check_alexnet_side(side: int, size: int = 224, kernel_size: int = 11, stride: int = 4) -> Verdict:
    """Predict the output side of AlexNet's first layer (11×11, stride 4, no padding) on 224×224."""
    divided = _("stride {stride} does not simply divide the side by {stride}: each window needs {k} pixels, so "
                "use (H1 − FH) / S + 1.")
    return compare_side(
        side, conv_geometry(size, kernel_size, stride), others=[(size // stride, divided)],
        because=_("{formula}, floored: the last window would stick out of the image."),
        fraction=_("(H1 − FH) / S + 1 = {exact:g} is not a whole number, and a window is placed whole or not "
                   "at all."),
        one_more=_("that is the paper's figure, but not what the formula gives for {size}: work it out, and "
                   "round the way PyTorch does."),
        steps=_("you counted the steps between windows, not the windows: the formula ends with + 1."),
        stride_one=_("that is stride 1; AlexNet's first layer moves {stride} pixels at a time, so divide "
                     "(H1 − FH) by S."),
        hint=_("use H2 = (H1 − FH + 2P) / S + 1 with P = 0, and round the way PyTorch does."))


@checker
def check_notes_layers(count: int, widths: Sequence[int] = (16, 32, 64)) -> Verdict:
    """Predict how many layers the notes' CONV-RELU-CONV-RELU-POOL ×3 + FC network has, counted the
    notes' way (一层神经网络: 带参数计算: only layers that compute with parameters)."""
    network = _notes_network(widths)
    expected = layer_table(network, (3, 32, 32)).layers_with_parameters
    kinds = [type(m).__name__ for m in network]
    convs, relus, pools = kinds.count("Conv2d"), kinds.count("ReLU"), kinds.count("MaxPool2d")
    linears = kinds.count("Linear")
    return compare_prediction(
        count, expected, what=_("the number of layers"),
        because=_("{convs} convolutions and {linears} fully connected layer own parameters; ReLU, pooling and "
                  "flattening have none.").format(convs=convs, linears=linears),
        slips=[
            (len(network), _("nn.Sequential holds {count} modules, but ReLU, pooling and flattening have no "
                             "parameters, and the notes count only layers with parameters.").format(
                count=len(network))),
            (len(network) - 1, _("ReLU, pooling and flattening have no parameters, and the notes count only "
                                 "layers with parameters.")),
            (convs + pools + linears, _("pooling has no parameters (POOL也没有参数计算): it does not count as a "
                                        "layer.")),
            (convs + relus + linears, _("ReLU has no parameters (激活没有参数): a CONV + RELU group is one layer.")),
            (convs, _("the fully connected layer at the end has parameters too.")),
        ],
        hint=_("count the layers that own parameters: which of CONV, RELU, POOL, FC have weights?"))
