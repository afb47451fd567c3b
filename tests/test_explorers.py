"""course_utils.lessons.explorers: each widget is a thin layer over a plain, tested function.

The plain functions (``conv_geometry``, ``pooling_example``) are tested in test_conv.py and
test_pooling.py; here we check that each explorer builds without a front end and prints
exactly what its plain function says, for the first draw and after a control changes.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib
import pytest

from course_utils.lessons.conv import conv_geometry
from course_utils.lessons.explorers import conv_explorer, pooling_explorer
from course_utils.lessons.pooling import pooling_example

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _controls(explorer: widgets.VBox) -> dict[str, widgets.ValueWidget]:
    controls, output = explorer.children
    assert isinstance(output, widgets.Output)
    return {control.description: control for control in controls.children}


def test_conv_explorer_prints_what_conv_geometry_says(capsys):
    explorer = conv_explorer(size=7, kernel_size=3, stride=1)
    controls = _controls(explorer)
    assert set(controls) == {"input size", "kernel", "stride", "padding", "dilation"}
    assert conv_geometry(7, 3).describe() in capsys.readouterr().out

    controls["input size"].value = 8
    controls["stride"].value = 2
    shown = capsys.readouterr().out
    assert conv_geometry(8, 3, stride=2).describe() in shown
    assert "is not an integer" in shown

    controls["padding"].value = 1
    controls["dilation"].value = 2
    assert conv_geometry(8, 3, 2, 1, 2).describe() in capsys.readouterr().out


def test_conv_explorer_explains_impossible_settings(capsys):
    explorer = conv_explorer(size=3, kernel_size=3)
    capsys.readouterr()
    _controls(explorer)["kernel"].value = 5
    assert "Not possible: The kernel spans 5 positions" in capsys.readouterr().out


def test_pooling_explorer_prints_what_pooling_example_says(capsys):
    explorer = pooling_explorer(size=6, kernel_size=2, stride=2, mode="max")
    controls = _controls(explorer)
    assert set(controls) == {"input size", "window", "stride", "pooling"}
    assert pooling_example(6, 2, 2, "max").describe() in capsys.readouterr().out

    controls["pooling"].value = "avg"
    controls["input size"].value = 7
    shown = capsys.readouterr().out
    assert pooling_example(7, 2, 2, "avg").describe() in shown
    assert "parameters: 0" in shown


def test_explorers_reject_bad_starting_values():
    with pytest.raises(ValueError, match="mode must be one of"):
        pooling_explorer(mode="median")
    with pytest.raises(ValueError, match="kernel spans"):
        conv_explorer(size=3, kernel_size=5)
    with pytest.raises(ValueError, match="input size must be between 1 and 16"):
        conv_explorer(size=20)
