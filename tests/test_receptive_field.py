"""course_utils.lessons.receptive_field: the calculator agrees with a gradient measurement."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from course_utils.lessons.receptive_field import (
    Layer,
    conv,
    layers_from_module,
    measure_receptive_field,
    pool,
    receptive_field,
    receptive_field_example,
    receptive_fields,
)
from course_utils.lessons.summary import count_parameters


def build(layers: list[Layer], channels: int = 2) -> nn.Sequential:
    """Real PyTorch layers with the geometry of ``layers`` (and a ReLU after each conv)."""
    modules: list[nn.Module] = []
    c_in = 1
    for layer in layers:
        if layer.kind == "conv":
            modules.append(
                nn.Conv2d(
                    c_in, channels, layer.kernel_size, layer.stride, layer.padding, layer.dilation
                )
            )
            modules.append(nn.ReLU())
            c_in = channels
        else:
            modules.append(nn.MaxPool2d(layer.kernel_size, layer.stride, layer.padding))
    return nn.Sequential(*modules)


def test_three_3x3_convs_see_7x7_like_one_7x7():
    assert receptive_field([conv(3), conv(3), conv(3)]) == 7
    assert receptive_field([conv(7)]) == 7
    assert [r.receptive_field for r in receptive_fields([conv(3)] * 3)] == [3, 5, 7]


def test_padding_moves_the_field_but_does_not_resize_it():
    plain = receptive_fields([conv(3), conv(3, stride=2), pool(2)])
    padded = receptive_fields([conv(3, padding=1), conv(3, stride=2, padding=1), pool(2)])
    assert plain.receptive_field == padded.receptive_field == 3 + 2 + 1 * 2
    assert plain.jump == padded.jump == 4
    assert plain.span(0) == (0, 6)
    assert padded.span(0) == (-2, 4)
    assert padded.span(1) == (2, 8)


STACKS = {
    "three 3x3": [conv(3), conv(3), conv(3)],
    "strided and padded": [conv(5, stride=2, padding=2), conv(3, padding=1), conv(3, stride=2)],
    "with pooling": [
        conv(3, padding=1),
        pool(2),
        conv(3, padding=1),
        pool(3, stride=2, padding=1),
        conv(3),
    ],
    "dilated": [conv(3), conv(3, dilation=2), conv(3, dilation=4)],
    "even kernels": [conv(2), conv(4, stride=2), pool(2), conv(2)],
    "alexnet-like": [
        conv(11, stride=4, padding=2),
        pool(3, stride=2),
        conv(5, padding=2),
        pool(3, stride=2),
    ],
}


@pytest.mark.parametrize("narrow", [True, False], ids=["one channel", "full width"])
@pytest.mark.parametrize("name", list(STACKS))
def test_calculator_matches_the_gradient_measurement(name, narrow):
    layers = STACKS[name]
    table = receptive_fields(layers)
    size = 2 * table.receptive_field + 4 * table.jump + 1
    measured = measure_receptive_field(build(layers), (1, size, size), narrow=narrow)
    first, last = table.span(measured.unit[0])
    assert 0 <= first and last < size, "the probed unit's field should fit in the input"
    assert (measured.height, measured.width) == (table.receptive_field, table.receptive_field)
    assert (measured.top, measured.left) == (first, table.span(measured.unit[1])[0])


def test_measurement_near_the_border_is_clipped_to_the_image():
    layers = [conv(3, padding=1)] * 3
    measured = measure_receptive_field(build(layers), (1, 12, 12), unit=(0, 0))
    assert receptive_fields(layers).span(0) == (-3, 3)
    assert (measured.top, measured.left, measured.height, measured.width) == (0, 0, 4, 4)


class TwoBranches(nn.Module):
    """A 3×3 and a 5×5 branch, concatenated: the forward pass depends on channel counts."""

    def __init__(self) -> None:
        super().__init__()
        self.small = nn.Conv2d(3, 2, 3, padding=1)
        self.large = nn.Conv2d(3, 2, 5, padding=2)
        self.merge = nn.Conv2d(4, 1, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.merge(torch.cat([self.small(x), self.large(x)], dim=1))


def test_a_model_that_needs_its_channels_is_measured_at_full_width():
    def where(m):
        return (m.height, m.width, m.top, m.left)

    measured = measure_receptive_field(TwoBranches(), (3, 21, 21))
    assert measured.size == receptive_field([conv(5), conv(3)]) == 7
    assert where(measured) == where(
        measure_receptive_field(TwoBranches(), (3, 21, 21), narrow=False)
    )


def test_measurement_leaves_the_model_unchanged():
    model = build(STACKS["with pooling"])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    measure_receptive_field(model, (1, 40, 40))
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert any(isinstance(m, nn.MaxPool2d) for m in model)


def test_vgg16_from_the_module():
    with torch.device("meta"):
        vgg = torchvision.models.vgg16()
    layers = layers_from_module(vgg)
    assert [layer.kind for layer in layers].count("conv") == 13
    assert [layer.kind for layer in layers].count("pool") == 5
    assert all(layer.kernel_size == 3 for layer in layers if layer.kind == "conv")
    assert layers[0].name == "features.0"
    assert receptive_field(layers) == 212


def test_resnet18_main_path_matches_the_measured_field_of_the_whole_network():
    with torch.device("meta"):
        resnet = torchvision.models.resnet18()
    layers = layers_from_module(resnet)
    assert not any("downsample" in layer.name for layer in layers)
    assert len(layers) == 1 + 1 + 16  # stem conv, max pool, 8 blocks × 2 convs
    table = receptive_fields(layers)
    assert table.receptive_field == 435
    with_shortcuts = receptive_fields(layers_from_module(resnet, skip=()))
    assert with_shortcuts.receptive_field != table.receptive_field  # a chain through them is wrong
    body = nn.Sequential(*list(resnet.children())[:-2])
    measured = measure_receptive_field(body, (3, 448, 448))
    assert measured.size == 435
    assert measured.top == table.span(measured.unit[0])[0]


def test_forward_order_not_registration_order():
    class Backwards(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.second = nn.Conv2d(1, 1, 3, stride=2)
            self.first = nn.Conv2d(1, 1, 5)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.second(self.first(x))

    layers = layers_from_module(Backwards(), (1, 32, 32))
    assert [layer.name for layer in layers] == ["first", "second"]


def test_example_stack_and_its_price():
    table = receptive_field_example(n_layers=3, kernel_size=3)
    assert table.receptive_field == 7
    c = 16
    stack = nn.Sequential(*(nn.Conv2d(c, c, 3, bias=False) for _ in range(3)))
    assert count_parameters(stack) == table.parameter_factor() * c * c
    assert count_parameters(nn.Conv2d(c, c, 7, bias=False)) == 7 * 7 * c * c
    assert "27C²" in table.describe() and "49C²" in table.describe()
    pooled = receptive_field_example(n_layers=4, pool_every=2)
    assert [r.kind for r in pooled].count("pool") == 2


def test_receptive_field_explorer_prints_what_the_plain_function_says(capsys):
    widgets = pytest.importorskip("ipywidgets")
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_utils.lessons.explorers import receptive_field_explorer

    box = receptive_field_explorer(n_layers=3, kernel_size=3)
    assert receptive_field_example(3, 3).describe() in capsys.readouterr().out
    header, output = box.children
    assert isinstance(output, widgets.Output)
    controls = {control.description: control for control in header.children}
    assert set(controls) == {"conv layers", "kernel", "stride", "dilation", "pool every"}
    controls["kernel"].value = 5
    controls["pool every"].value = 1
    shown = capsys.readouterr().out
    assert str(receptive_field_example(3, 5, pool_every=1)) in shown
    assert receptive_field([conv(5), pool(2), conv(5), pool(2), conv(5), pool(2)]) == 36
    assert "sees 36×36 input pixels" in shown
    plt.close("all")
    with pytest.raises(ValueError, match="n_layers"):
        receptive_field_explorer(n_layers=0)


def test_bad_layers_are_explained():
    with pytest.raises(ValueError, match="kind"):
        Layer("dense", 3)
    with pytest.raises(ValueError, match="kernel_size"):
        conv(0)
    with pytest.raises(ValueError, match="Layer 1"):
        receptive_fields([conv(3), "pool"])
    assert receptive_field([("conv", 3, 1, 1), ("pool", 2, 2)]) == 4
    with pytest.raises(ValueError, match="square"):
        layers_from_module(nn.Conv2d(1, 1, (1, 7)), (1, 16, 16))
    with pytest.raises(ValueError, match="no Conv2d"):
        layers_from_module(nn.Linear(4, 2), (4,))
    with pytest.raises(ValueError, match="feature maps"):
        measure_receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Flatten()), (1, 8, 8))
