"""Diagrams are drawn from the models: what they say must equal layer_table and count_parameters."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from course_utils.lessons.architectures import FirstCNN, ResidualBlock, plain_net, residual_net
from course_utils.lessons.diagrams import (
    nested_classes_diagram,
    pipeline_diagram,
    pipeline_stages,
    residual_block_diagram,
    shape_text,
    vgg_block,
    vgg_block_diagram,
)
from course_utils.lessons.nesting import blocks_per_stage, embed_shallower
from course_utils.lessons.summary import count_parameters, layer_table


def notes_net() -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = 3
    for width in (16, 32, 64):
        layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(),
                   nn.Conv2d(width, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2)]
        channels = width
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels * 4 * 4, 10))


def texts(fig: Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_shape_text_uses_the_notes_notation():
    assert shape_text((16, 32, 28)) == "32×28×16"
    assert shape_text((1024,)) == "1024"


@pytest.mark.parametrize(("model", "size"), [(notes_net(), (3, 32, 32)), (FirstCNN(), (1, 28, 28))])
def test_pipeline_shapes_are_layer_tables(model, size):
    table = layer_table(model, size)
    stages = pipeline_stages(model, size)
    assert [s.shape for s in stages] == [tuple(size)] + [tuple(r.output_shape) for r in table]
    assert [s.label for s in stages[:3]] == ["INPUT", "CONV", "RELU"]
    assert stages[-1].label == "FC"
    fig = pipeline_diagram(model, size)
    assert isinstance(fig, Figure)
    written = texts(fig)
    labels = [t for t in written if t.isupper()]
    shapes = [t for t in written if not t.isupper()]
    assert labels == [s.label for s in stages]
    assert shapes == [shape_text(s.shape) for s in stages]
    plt.close(fig)
    assert not plt.fignum_exists(fig.number)


def test_numbered_layers_are_the_layers_with_parameters():
    model = notes_net()
    table = layer_table(model, (3, 32, 32))
    fig = pipeline_diagram(model, (3, 32, 32), number_layers=True)
    numbered = [t.get_text() for t in fig.axes[0].texts if t.get_gid() == "layer-number"]
    counts = [row.parameters for row in table if row.parameters > 0]
    assert len(numbered) == table.layers_with_parameters == 7
    assert numbered == [f"layer {k}\n{p:,} params" for k, p in enumerate(counts, start=1)]
    assert not [t for t in pipeline_diagram(model, (3, 32, 32)).axes[0].texts if t.get_gid() == "layer-number"]


def test_pipeline_labels_follow_the_notes():
    stages = pipeline_stages(notes_net(), (3, 32, 32))
    assert [s.label for s in stages[:6]] == ["INPUT", "CONV", "RELU", "CONV", "RELU", "POOL"]
    assert [s.label for s in stages[-2:]] == ["FLATTEN", "FC"]


def test_pipeline_refuses_a_bad_row_length():
    with pytest.raises(ValueError, match="per_row"):
        pipeline_diagram(FirstCNN(), (1, 28, 28), per_row=1)


def test_vgg_block_diagram_writes_layer_table_shapes_and_parameters():
    block = vgg_block(64, 128)
    table = layer_table(block, (64, 112, 112))
    fig = vgg_block_diagram(64, 128, size=112)
    written = texts(fig)
    for row in table:
        assert shape_text(row.output_shape) in written
    for row in table.with_parameters():
        assert any(f"({row.parameters:,} parameters)" in t for t in written)
    assert shape_text(table[-1].output_shape) == "56×56×128"


def test_residual_block_diagram_shows_both_shortcuts():
    fig = residual_block_diagram(channels=16, size=8)
    assert len(fig.axes) == 2
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith("identity") and titles[1].startswith("projection")
    assert f"{count_parameters(ResidualBlock(16, 32, stride=2)):,} parameters" in titles[1]
    written = " ".join(texts(fig))
    assert "8×8×16" in written and "4×4×32" in written


def test_nested_classes_diagram_labels_each_depth_with_its_parameters():
    fig = nested_classes_diagram(depths=(8, 14), width=4)
    legend = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    for depth in (8, 14):
        assert f"residual-{depth} ({count_parameters(residual_net(depth, width=4)):,} parameters)" in legend
    with pytest.raises(ValueError, match="two depths"):
        nested_classes_diagram(depths=(8,))


@pytest.mark.parametrize("builder", [plain_net, residual_net])
@pytest.mark.parametrize("batch_norm", [True, False])
def test_a_deeper_net_can_compute_what_a_shallower_one_computes(builder, batch_norm):
    torch.manual_seed(0)
    shallow = builder(8, width=4, batch_norm=batch_norm)
    with torch.no_grad():  # non-trivial BatchNorm statistics
        shallow.train()(torch.randn(32, 1, 16, 16) * 2 + 1)
    deep = embed_shallower(shallow, builder(20, width=4, batch_norm=batch_norm))
    assert blocks_per_stage(deep) == [3, 3, 3]
    x = torch.randn(6, 1, 16, 16)
    with torch.no_grad():
        assert torch.allclose(shallow.eval()(x), deep.eval()(x), atol=1e-5)
        fresh = builder(20, width=4, batch_norm=batch_norm).eval()
        assert not torch.allclose(shallow(x), fresh(x), atol=1e-3)  # the check can fail


def test_embed_shallower_refuses_mismatches():
    with pytest.raises(ValueError, match="same family"):
        embed_shallower(plain_net(8, width=4), residual_net(14, width=4))
    with pytest.raises(ValueError, match="swap"):
        embed_shallower(residual_net(14, width=4), residual_net(8, width=4))
    with pytest.raises(ValueError, match="same width"):
        embed_shallower(residual_net(8, width=4), residual_net(14, width=8))
    with pytest.raises(ValueError, match="plain_net"):
        embed_shallower(FirstCNN(), residual_net(14, width=4))
