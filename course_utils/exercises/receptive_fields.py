"""Checkers for notebook 04 (receptive fields): the layer-by-layer recurrence, how many 3×3
layers a field needs, and the notebook's two predictions (the field of three stacked 3×3 layers,
their weights against one 7×7 layer's). Expected values come from the course's calculator
(``course_utils.lessons.receptive_field``), which notebook 04 checks against gradients. Every
sentence goes through ``_()`` (:mod:`course_utils.i18n`): the Chinese notebook's checks answer in
Chinese."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Integral

from torch import nn

from course_utils.exercises.prediction import compare_prediction
from course_utils.exercises.verdict import Mistake, Verdict, attempt, checker, right
from course_utils.i18n import gettext as _
from course_utils.lessons.receptive_field import Layer, conv, pool, receptive_field
from course_utils.lessons.summary import count_parameters

__all__ = ["check_field_of", "check_layers_for_field", "check_stack_weights", "check_stacked_field"]


def _stacks() -> list[list[Layer]]:
    return [
        [conv(3), conv(3), conv(3)],
        [conv(7, 2, 3), pool(3, 2, 1), conv(3, padding=1), conv(3, padding=1)],
        [conv(3), pool(2), conv(3), pool(2), conv(3)],
        [conv(5, 2, 2), conv(3, dilation=2), conv(3, 2)],
        [conv(3, padding=1), conv(3, 2, 1), conv(3, padding=1), conv(3, 2, 1), conv(1)],
    ]


def _describe(layers: Sequence[Layer]) -> str:
    """The stack as its calls: ``[conv(7, 2, 3), pool(3, 2, 1), ...]`` (code, the same in every language)."""
    parts = []
    for layer in layers:
        args = [str(layer.kernel_size)]
        if layer.stride > 1 or layer.padding:
            args.append(str(layer.stride))
        if layer.padding:
            args.append(str(layer.padding))
        if layer.dilation > 1:
            args.append(f"dilation={layer.dilation}")
        parts.append(f"{layer.kind}({', '.join(args)})")
    return "[" + ", ".join(parts) + "]"


def _no_jump(layers: Sequence[Layer]) -> int:
    return 1 + sum(layer.effective_kernel_size - 1 for layer in layers)


def _jump_too_early(layers: Sequence[Layer]) -> int:
    field, jump = 1, 1
    for layer in layers:
        jump *= layer.stride
        field += (layer.effective_kernel_size - 1) * jump
    return field


def _pooling_skipped(layers: Sequence[Layer]) -> int:
    return receptive_field([layer for layer in layers if layer.kind == "conv"])


def _no_dilation(layers: Sequence[Layer]) -> int:
    return receptive_field([Layer(x.kind, x.kernel_size, x.stride, x.padding) for x in layers])


def _slips() -> list[tuple[Callable[[Sequence[Layer]], int], str]]:
    """The usual slips, each as the field it computes and its sentence (translated when the check runs)."""
    return [
        (_no_jump, _("you add k − 1 at every layer, but after a stride-s layer one step of the next kernel "
                     "moves s input pixels: multiply (k − 1) by the jump, the product of the strides so far.")),
        (_jump_too_early, _("you multiply by the jump including the layer's own stride: a layer's stride "
                            "spaces out the layers after it, so update r before j.")),
        (_pooling_skipped, _("a pooling window looks at k×k inputs too, so it grows the field like a "
                             "convolution; having no weights does not matter.")),
        (_no_dilation, _("a dilated kernel spans d·(k − 1) + 1 pixels: use layer.effective_kernel_size.")),
    ]


@checker
def check_field_of(field_of: Callable[[Sequence[Layer]], int]) -> Verdict:
    """Check ``field_of(layers)``: the receptive field of a stack of ``conv(...)``/``pool(...)`` layers."""
    stacks = _stacks()
    answers = []
    for layers in stacks:
        call = f"field_of({_describe(layers)})"
        value = attempt(field_of, list(layers), call=call)
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise Mistake(_("{call} returned {value}; a receptive field is a whole number of pixels.").format(
                call=call, value=repr(value)))
        answers.append(value)
    expected = [receptive_field(layers) for layers in stacks]
    if answers == expected:
        return right(_("your recurrence gives the course's field for all {count} stacks, pooling and dilation "
                       "included.").format(count=len(stacks)))
    for slip, sentence in _slips():
        if answers == [slip(layers) for layers in stacks]:
            raise Mistake(sentence)
    index = next(i for i, (a, e) in enumerate(zip(answers, expected, strict=True)) if a != e)
    raise Mistake(_("{call} gives {value}, the calculator {expected}: apply r ← r + (k − 1)·j, then j ← j·s, "
                    "layer by layer.").format(call=f"field_of({_describe(stacks[index])})", value=answers[index],
                                              expected=expected[index]))


@checker
def check_layers_for_field(layers_for_field: Callable[[int], int]) -> Verdict:
    """Check ``layers_for_field(target)``: the fewest stacked 3×3 stride-1 convolutions that see
    at least ``target × target`` pixels."""
    targets = [3, 5, 7, 8, 11, 15, 21, 100]
    for target in targets:
        call = f"layers_for_field({target})"
        value = attempt(layers_for_field, target, call=call)
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise Mistake(_("{call} returned {value}; a number of layers is a whole number (int).").format(
                call=call, value=repr(value)))
        value = int(value)
        expected = next(n for n in range(1, target + 1) if receptive_field([conv(3)] * n) >= target)
        if value == expected:
            continue
        seen = receptive_field([conv(3)] * value) if value > 0 else 1
        if value == expected + 1:
            fewer = receptive_field([conv(3)] * expected)
            raise Mistake(_("{call} is one layer too many: {count} layers already see {side}×{side}, since each "
                            "3×3 layer adds 2 pixels to a field that starts at 1.").format(
                call=call, count=expected, side=fewer))
        if seen < target:
            raise Mistake(_("{call} is too few: {count} layers of 3×3 see only {side}×{side}.").format(
                call=call, count=value, side=seen))
        raise Mistake(_("{call} is too many: fewer layers already see {side}×{side}.").format(call=call, side=target))
    return right(_("each 3×3 layer adds 2 pixels to the field; checked for targets {targets}.").format(targets=targets))


# --- predictions: the learner answers before the cell that shows it ---------------------------


@checker
def check_stacked_field(field: int, layers: int = 3, kernel_size: int = 3) -> Verdict:
    """Predict how many input pixels per side one unit sees after three stacked 3×3 convolutions."""
    expected = receptive_field([conv(kernel_size)] * layers)
    return compare_prediction(
        field, expected, what=_("the field's side"),
        because=_("each {k}×{k} layer adds {added} pixels to a field that starts at 1.").format(
            k=kernel_size, added=kernel_size - 1),
        slips=[
            (kernel_size * layers, _("fields do not add whole kernels: neighbouring windows overlap, so each "
                                     "layer adds only k − 1 = {added} pixels to the side.").format(
                added=kernel_size - 1)),
            (kernel_size ** layers, _("fields do not multiply: each layer widens the field by k − 1 pixels, it "
                                      "does not scale it.")),
            (kernel_size, _("that is one layer's field; the next layer sees a window of units, each of which "
                            "sees its own window of pixels.")),
            (receptive_field([conv(kernel_size)] * (layers - 1)), _("that is {fewer} layers; count all {count}.").format(
                fewer=layers - 1, count=layers)),
        ],
        hint=_("start from one pixel and add what each layer adds to the side."))


@checker
def check_stack_weights(factor: int, layers: int = 3, channels: int = 8) -> Verdict:
    """Predict the weights of three 3×3 convolutions, C channels in and out, no bias, in units of C²."""
    stack = nn.Sequential(*(nn.Conv2d(channels, channels, 3, bias=False, device="meta") for _ in range(layers)))
    large = receptive_field([conv(3)] * layers)
    one = nn.Conv2d(channels, channels, large, bias=False, device="meta")
    expected = count_parameters(stack) // channels**2
    single = count_parameters(one) // channels**2
    return compare_prediction(
        factor, expected, what=_("the stack's weight count in units of C²"),
        because=_("{count} layers of 3·3·C·C; one {k}×{k} layer would need {single}C².").format(
            count=layers, k=large, single=single),
        slips=[
            (3 * 3, _("that is one layer; the stack has {count}.").format(count=layers)),
            (single, _("that is the single {k}×{k} layer's {k}·{k}·C²; the stack has {count} layers of "
                       "3·3·C².").format(k=large, count=layers)),
            ((3 * 3) ** layers, _("the layers' weights add up, they do not multiply: each layer has its own "
                                  "kernels.")),
        ],
        hint=_("a k×k layer from C to C channels has k·k·C·C weights; add the layers."))
