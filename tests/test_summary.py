"""course_utils.lessons.summary: per-layer tables, parameter counts and FLOPs."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from course_utils.lessons.summary import LayerRow, count_flops, count_parameters, layer_table


def notes_network(widths: tuple[int, int, int] = (8, 16, 32), classes: int = 10) -> nn.Sequential:
    """CONV-RELU-CONV-RELU-POOL three times, then FC, on a 32×32×3 input."""
    layers: list[nn.Module] = []
    c_in = 3
    for c in widths:
        layers += [
            nn.Conv2d(c_in, c, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(c, c, 3, padding=1),
            nn.ReLU(),
        ]
        layers.append(nn.MaxPool2d(2))
        c_in = c
    layers += [nn.Flatten(), nn.Linear(c_in * 4 * 4, classes)]
    return nn.Sequential(*layers)


def test_one_conv_layer_of_ten_5x5x3_kernels_has_760_parameters():
    layer = nn.Conv2d(3, 10, kernel_size=5)
    assert count_parameters(layer) == 10 * 5 * 5 * 3 + 10
    table = layer_table(layer, (3, 32, 32))
    assert table == [LayerRow("Conv2d", "Conv2d", (10, 28, 28), 760)]


def test_trainable_only_leaves_out_frozen_parameters():
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    model[0].requires_grad_(False)
    assert count_parameters(model) == 15 + 8
    assert count_parameters(model, trainable_only=True) == 8


def test_layer_table_of_the_notes_network():
    model = notes_network()
    table = layer_table(model, (3, 32, 32))
    assert [r.type for r in table] == [type(m).__name__ for m in model]
    assert [r.name for r in table] == [str(i) for i in range(len(model))]
    assert table[4].output_shape == (8, 16, 16)
    assert table[-1].output_shape == (10,)
    assert table.layers_with_parameters == 7
    assert all(r.parameters == 0 for r in table if r.type in {"ReLU", "MaxPool2d", "Flatten"})
    assert sum(r.parameters for r in table) == table.total_parameters == count_parameters(model)
    assert len(table.with_parameters()) == 7
    text = str(table)
    assert "layers with parameters: 7" in text and f"{count_parameters(model):,}" in text
    assert "(32, 4, 4)" in text


def test_layer_table_restores_training_mode_and_leaves_weights_alone():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Dropout())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    layer_table(model, (1, 8, 8))
    assert all(m.training for m in model.modules())
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    model.eval()
    layer_table(model, (1, 8, 8))
    assert not any(m.training for m in model.modules())


def test_a_layer_called_twice_gets_two_rows_and_its_parameters_once():
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(self.conv(x))

    model = Twice()
    table = layer_table(model, (2, 5, 5))
    assert [r.name for r in table] == ["conv", "conv"]
    assert [r.parameters for r in table] == [count_parameters(model), 0]


def test_a_container_that_owns_parameters_gets_a_row():
    class WithToken(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.token = nn.Parameter(torch.zeros(5))
            self.linear = nn.Linear(5, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear(x + self.token)

    table = layer_table(WithToken(), (5,))
    assert [(r.name, r.parameters) for r in table] == [("linear", 12), ("WithToken", 5)]
    assert table.total_parameters == 17 and "of which" not in str(table)


def test_layers_the_forward_pass_skips_are_in_the_total_only():
    class WithSpare(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used = nn.Linear(4, 2)
            self.spare = nn.Linear(4, 3)  # like GoogLeNet's auxiliary heads in eval mode

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.used(x)

    table = layer_table(WithSpare(), (4,))
    assert table.total_parameters == 10 + 15
    assert "of which in the rows above: 10" in str(table)


def test_several_outputs_give_several_shapes():
    lstm = nn.LSTM(input_size=4, hidden_size=6, batch_first=True)
    row = layer_table(lstm, (7, 4))[0]
    assert row.output_shape[0] == (7, 6)


def test_meta_device_counts_like_the_real_model():
    real = torchvision.models.alexnet()
    with torch.device("meta"):
        meta = torchvision.models.alexnet()
    assert count_parameters(meta) == count_parameters(real)
    assert count_flops(meta, (3, 224, 224)) == count_flops(real, (3, 224, 224))
    real_rows = [r[:3] for r in layer_table(real, (3, 227, 227))]
    assert [r[:3] for r in layer_table(meta, (3, 227, 227))] == real_rows


def test_count_flops_counts_two_per_multiply_add():
    conv = nn.Conv2d(3, 10, 5)
    assert count_flops(conv, (3, 32, 32)) == 2 * (10 * 28 * 28) * (3 * 5 * 5)
    linear = nn.Linear(100, 7)
    assert count_flops(linear, (100,)) == 2 * 100 * 7
    # ReLU and pooling cost no counted FLOPs
    assert count_flops(nn.Sequential(conv, nn.ReLU(), nn.MaxPool2d(2)), (3, 32, 32)) == count_flops(
        conv, (3, 32, 32)
    )


@pytest.mark.parametrize("bad", [(), (3, 0, 32), "3x32x32", (3.0, 32, 32), 32, (True, 32, 32)])
def test_bad_input_size_says_what_is_expected(bad):
    with pytest.raises(ValueError, match="ONE example"):
        layer_table(nn.Conv2d(3, 1, 3), bad)


def test_input_size_with_a_batch_dimension_fails_with_a_hint():
    with pytest.raises(RuntimeError, match="no batch dimension"):
        layer_table(nn.Sequential(nn.Conv2d(3, 4, 3)), (1, 3, 32, 32))
    with pytest.raises(RuntimeError, match="input_size"):
        count_flops(nn.Linear(10, 2), (3,))


def test_not_a_model_is_refused():
    with pytest.raises(TypeError, match="nn.Module"):
        count_parameters([nn.Linear(2, 2)])
