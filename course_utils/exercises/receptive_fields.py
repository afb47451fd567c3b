"""Checkers for notebook 04 (receptive fields): the layer-by-layer recurrence, and how many 3×3
layers a field needs. Expected values come from the course's calculator
(``course_utils.lessons.receptive_field``), which notebook 04 checks against gradients."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Integral

from course_utils.exercises.verdict import Mistake, Verdict, attempt, checker, right
from course_utils.lessons.receptive_field import Layer, conv, pool, receptive_field

__all__ = ["check_field_of", "check_layers_for_field"]


def _stacks() -> list[list[Layer]]:
    return [
        [conv(3), conv(3), conv(3)],
        [conv(7, 2, 3), pool(3, 2, 1), conv(3, padding=1), conv(3, padding=1)],
        [conv(3), pool(2), conv(3), pool(2), conv(3)],
        [conv(5, 2, 2), conv(3, dilation=2), conv(3, 2)],
        [conv(3, padding=1), conv(3, 2, 1), conv(3, padding=1), conv(3, 2, 1), conv(1)],
    ]


def _describe(layers: Sequence[Layer]) -> str:
    parts = []
    for layer in layers:
        extra = f", stride {layer.stride}" if layer.stride > 1 else ""
        extra += f", dilation {layer.dilation}" if layer.dilation > 1 else ""
        parts.append(f"{layer.kind} {layer.kernel_size}×{layer.kernel_size}{extra}")
    return "[" + "; ".join(parts) + "]"


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


_SLIPS = [
    (_no_jump, "you add k − 1 at every layer, but after a stride-s layer one step of the next kernel "
               "moves s input pixels: multiply (k − 1) by the jump, the product of the strides so far."),
    (_jump_too_early, "you multiply by the jump including the layer's own stride: a layer's stride "
                      "spaces out the layers after it, so update r before j."),
    (_pooling_skipped, "a pooling window looks at k×k inputs too, so it grows the field like a "
                       "convolution; having no weights does not matter."),
    (_no_dilation, "a dilated kernel spans d·(k − 1) + 1 pixels: use layer.effective_kernel_size."),
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
            raise Mistake(f"{call} returned {value!r}; a receptive field is a whole number of pixels.")
        answers.append(value)
    expected = [receptive_field(layers) for layers in stacks]
    if answers == expected:
        return right(f"your recurrence gives the course's field for all {len(stacks)} stacks, "
                     f"pooling and dilation included.")
    for slip, sentence in _SLIPS:
        if answers == [slip(layers) for layers in stacks]:
            raise Mistake(sentence)
    index = next(i for i, (a, e) in enumerate(zip(answers, expected, strict=True)) if a != e)
    raise Mistake(f"field_of({_describe(stacks[index])}) gives {answers[index]}, the calculator "
                  f"{expected[index]}: apply r ← r + (k − 1)·j, then j ← j·s, layer by layer.")


@checker
def check_layers_for_field(layers_for_field: Callable[[int], int]) -> Verdict:
    """Check ``layers_for_field(target)``: the fewest stacked 3×3 stride-1 convolutions that see
    at least ``target × target`` pixels."""
    targets = [3, 5, 7, 8, 11, 15, 21, 100]
    for target in targets:
        call = f"layers_for_field({target})"
        value = attempt(layers_for_field, target, call=call)
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise Mistake(f"{call} returned {value!r}; a number of layers is a whole number (int).")
        value = int(value)
        expected = next(n for n in range(1, target + 1) if receptive_field([conv(3)] * n) >= target)
        if value == expected:
            continue
        seen = receptive_field([conv(3)] * value) if value > 0 else 1
        if value == expected + 1:
            fewer = receptive_field([conv(3)] * expected)
            raise Mistake(f"{call} is one layer too many: {expected} layers already see {fewer}×{fewer}, "
                          f"since each 3×3 layer adds 2 pixels to a field that starts at 1.")
        if seen < target:
            raise Mistake(f"{call} is too few: {value} layers of 3×3 see only {seen}×{seen}.")
        raise Mistake(f"{call} is too many: fewer layers already see {target}×{target}.")
    return right(f"each 3×3 layer adds 2 pixels to the field; checked for targets {targets}.")
