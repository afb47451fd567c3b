"""What a model is made of: a per-layer table, parameter counts and FLOPs.

Three questions a learner asks of any network, answered by running it once on a dummy input:

- :func:`layer_table`: every layer in the order the forward pass calls it, with the shape of
  what it outputs and how many parameters it owns (forward hooks record this);
- :func:`count_parameters`: how many numbers training can change;
- :func:`count_flops`: how much arithmetic one image costs (``torch.utils.flop_counter``).

All three work on a model built on the ``meta`` device (``with torch.device("meta"): ...``),
whose tensors have shapes but no data: counting needs shapes only, so even VGG16 is counted
in milliseconds without allocating its 138 million weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

import torch
from torch import nn

from course_utils.arguments import require_input_size, require_module

__all__ = ["LayerRow", "LayerTable", "count_flops", "count_parameters", "layer_table", "model_device", "run_once"]


class LayerRow(NamedTuple):
    """One call of one layer during the forward pass."""

    name: str
    """Qualified name in the model, as in ``model.named_modules()`` (``"features.0"``)."""
    type: str
    """The layer's class name (``"Conv2d"``)."""
    output_shape: tuple
    """Shape of the output for ONE example (batch dimension left out), e.g. ``(16, 32, 32)``.
    A layer that returns several tensors gets a tuple of shapes."""
    parameters: int
    """Parameters the layer owns (counted on its first call only, so totals add up)."""


class LayerTable(list):
    """A list of :class:`LayerRow` that prints as an aligned table with totals.

    ``print(table)`` shows one line per layer; ``table.with_parameters()`` keeps only the
    layers that own parameters (the ones the notes count when they say "a 7-layer network").
    """

    def __init__(
        self, rows: Sequence[LayerRow] = (), input_shape: tuple = (), total: int | None = None
    ):
        super().__init__(rows)
        self.input_shape = tuple(input_shape)
        self.total_parameters = sum(r.parameters for r in rows) if total is None else total

    def with_parameters(self) -> LayerTable:
        """Only the rows of layers that own at least one parameter."""
        return LayerTable(
            [r for r in self if r.parameters > 0], self.input_shape, self.total_parameters
        )

    @property
    def layers_with_parameters(self) -> int:
        """How many rows own parameters: the notes' way of counting a network's layers.

        Batch norm owns parameters and counts here; names like ResNet-18 count only the
        convolution and fully connected layers on the main path.
        """
        return sum(1 for r in self if r.parameters > 0)

    def __str__(self) -> str:
        header = ("layer", "type", "output shape", "parameters")
        lines = [("input", "", _format_shape(self.input_shape), "")]
        lines += [
            (r.name, r.type, _format_shape(r.output_shape), f"{r.parameters:,}") for r in self
        ]
        widths = [max(len(str(line[i])) for line in [header, *lines]) for i in range(4)]

        def fmt(cells: Sequence[str]) -> str:
            left = "  ".join(str(c).ljust(w) for c, w in zip(cells[:3], widths[:3], strict=True))
            return f"{left}  {str(cells[3]).rjust(widths[3])}".rstrip()

        rule = "-" * (sum(widths) + 6)
        in_rows = sum(r.parameters for r in self)
        text = [fmt(header), rule, *(fmt(line) for line in lines), rule]
        text.append(f"total parameters: {self.total_parameters:,}")
        if in_rows != self.total_parameters:
            text.append(
                f"  of which in the rows above: {in_rows:,} (the rest is in layers that this "
                f"forward pass did not call)"
            )
        text.append(f"layers with parameters: {self.layers_with_parameters}")
        return "\n".join(text)

    def __repr__(self) -> str:
        return self.__str__()


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """The number of parameters of ``model`` (each shared tensor counted once).

    With ``trainable_only=True``, only those with ``requires_grad`` (the ones an optimizer
    would update; frozen layers are left out).
    """
    require_module(model)
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def layer_table(model: nn.Module, input_size: Sequence[int]) -> LayerTable:
    """Run ``model`` once on zeros of shape ``(1, *input_size)`` and list its layers.

    ``input_size`` is the shape of ONE example without the batch dimension, for example
    ``(3, 32, 32)`` for a 32×32 RGB image (channels first, as PyTorch wants). Every leaf
    layer (a module with no sub-modules: ``Conv2d``, ``ReLU``, ``Linear``...) gets one row per
    call, in call order; so does a container that owns parameters itself (a class token,
    attention's input projection), after the rows of its sub-modules. Parameters of layers
    the forward pass never calls are in the total but in no row, and the printed table says
    so. The model runs in evaluation mode without gradients, on the device
    its parameters live on (``meta`` works), and is put back in the mode it was in.

    >>> print(layer_table(nn.Sequential(nn.Conv2d(3, 10, 5), nn.ReLU()), (3, 32, 32)))  # doctest: +SKIP
    """
    require_module(model)
    shape = require_input_size(input_size)
    rows: list[LayerRow] = []
    names = {module: name or type(model).__name__ for name, module in model.named_modules()}
    counted: set[int] = set()

    def hook(module: nn.Module, _inputs: Any, output: Any) -> None:
        own = 0
        if id(module) not in counted:
            counted.add(id(module))
            own = sum(p.numel() for p in module.parameters(recurse=False))
        rows.append(LayerRow(names.get(module, "?"), type(module).__name__, _shape_of(output), own))

    hooked = [m for m in model.modules() if _is_leaf(m) or _owns_parameters(m)]
    handles = [m.register_forward_hook(hook) for m in hooked]
    try:
        run_once(model, shape)
    finally:
        for handle in handles:
            handle.remove()
    return LayerTable(rows, input_shape=shape, total=count_parameters(model))


def count_flops(model: nn.Module, input_size: Sequence[int]) -> int:
    """Floating-point operations of one forward pass on one example of shape ``input_size``.

    Counted by ``torch.utils.flop_counter.FlopCounterMode``, which counts a multiply-add as
    **2** FLOPs and counts only the heavy operations (convolutions, matrix products,
    attention); ReLU, pooling and additions are left out, as in most papers. Divide by 2 for
    "multiply-accumulates" (MACs), the unit some tables use. ``input_size`` is as in
    :func:`layer_table`: one example, no batch dimension.
    """
    from torch.utils.flop_counter import FlopCounterMode

    require_module(model)
    shape = require_input_size(input_size)
    counter = FlopCounterMode(display=False)
    with counter:
        run_once(model, shape)
    return int(counter.get_total_flops())


def _is_leaf(module: nn.Module) -> bool:
    return next(iter(module.children()), None) is None


def _owns_parameters(module: nn.Module) -> bool:
    return next(iter(module.parameters(recurse=False)), None) is not None


def model_device(model: nn.Module) -> torch.device:
    """The device of a model's first parameter or buffer (the CPU for a model that has none)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


@contextmanager
def _eval_mode(model: nn.Module):
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.train(training)


def run_once(model: nn.Module, shape: tuple[int, ...]) -> Any:
    """One forward pass on zeros of shape (1, *shape), with a message that helps when it fails."""
    device = model_device(model)
    x = torch.zeros((1, *shape), device=device)
    with torch.no_grad(), _eval_mode(model):
        try:
            return model(x)
        except (RuntimeError, ValueError, TypeError) as error:
            raise RuntimeError(
                f"{type(model).__name__} failed on an input of shape {tuple(x.shape)} "
                f"(batch of 1 + input_size={shape}). Check that input_size is the shape of one "
                f"example that this model accepts (channels first, no batch dimension). "
                f"PyTorch said: {error}"
            ) from error


def _shape_of(output: Any) -> tuple:
    if isinstance(output, torch.Tensor):
        return tuple(output.shape[1:])
    if isinstance(output, (tuple, list)):
        return tuple(_shape_of(o) for o in output)
    if isinstance(output, dict):
        return tuple(_shape_of(o) for o in output.values())
    return ()


def _format_shape(shape: tuple) -> str:
    if shape and all(isinstance(s, tuple) for s in shape):
        return ", ".join(_format_shape(s) for s in shape)
    return "(" + ", ".join(str(s) for s in shape) + ")" if shape else "-"
