"""Interactive explorers: sliders over the plain functions the notebooks teach.

Every explorer follows one pattern: a dict of controls and a ``render(**values)`` function
that calls a plain function from the course (which the tests call directly), prints its
description and draws it. :func:`_explorer` lays the controls out above an output area
that is redrawn whenever a control changes. The sliders with a fixed range come from one table,
:func:`_sliders` (each explorer's parameters, their labels and ranges). Add an explorer by
adding its rows to the table and writing one more function of the same shape.

The controls' labels and the explorers' own words go through ``_()`` (:mod:`course_utils.i18n`):
after ``set_language("zh_CN")`` (the Chinese notebooks' first cell) they are in Chinese, in the
glossary's terms (``i18n/glossary.tsv``). The plain functions' descriptions stay in English.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt

from course_utils.data.transforms import TransformSettings, augmentation_gallery
from course_utils.i18n import gettext as _
from course_utils.lessons.conv import conv_geometry
from course_utils.lessons.pictures import draw_receptive_fields, draw_values, draw_windows
from course_utils.lessons.pooling import MODES, pooling_example
from course_utils.lessons.receptive_field import receptive_field_example

__all__ = ["augmentation_explorer", "conv_explorer", "pooling_explorer", "receptive_field_explorer"]


def _slider(description: str, value: int, low: int, high: int) -> widgets.IntSlider:
    """An integer slider that redraws when released (not on every pixel of a drag)."""
    if not low <= value <= high:
        raise ValueError(f"{description} must be between {low} and {high} here, got {value}.")
    return widgets.IntSlider(
        value=value,
        min=low,
        max=high,
        description=description,
        continuous_update=False,
        style={"description_width": "initial"},
    )


def _sliders(explorer: str, **values: int) -> dict[str, widgets.IntSlider]:
    """The named explorer's sliders, one per parameter in ``values``, each at its starting value.

    The table is built at each call, so that the labels are in the language set now.
    """
    table = {  # explorer: {parameter: (label, lowest, highest)}
        "conv": {"size": (_("input size"), 1, 16), "kernel_size": (_("kernel"), 1, 7),
                 "stride": (_("stride"), 1, 4), "padding": (_("padding"), 0, 3), "dilation": (_("dilation"), 1, 3)},
        "pooling": {"size": (_("input size"), 2, 10), "kernel_size": (_("window"), 1, 4),
                    "stride": (_("stride"), 1, 4)},
        "receptive_field": {"n_layers": (_("conv layers"), 1, 8), "kernel_size": (_("kernel"), 1, 7),
                            "stride": (_("stride"), 1, 3), "dilation": (_("dilation"), 1, 3),
                            "pool_every": (_("pool every"), 0, 4)},
        "augmentation": {"seed": (_("random draw"), 0, 50)},
    }[explorer]
    return {name: _slider(label, values[name], low, high) for name, (label, low, high) in table.items()}


def _mode_label(mode: str) -> str:
    """How a pooling mode is called on its button ("max", "avg" in English: the values themselves)."""
    return {"max": _("max"), "avg": _("avg")}.get(mode, mode)


def _explorer(controls: dict[str, widgets.ValueWidget], render: Callable[..., None]) -> widgets.VBox:
    """Controls above an output area; ``render(**values)`` redraws it on every change.

    ``render`` gets one keyword argument per control. A ``ValueError`` it raises (for
    settings that cannot work, such as a kernel bigger than the input) is printed, not raised.
    """

    def safe_render(**values: object) -> None:
        try:
            render(**values)
        except ValueError as error:
            print(_("Not possible: {error}").format(error=error))

    output = widgets.interactive_output(safe_render, controls)
    layout = widgets.Layout(flex_flow="row wrap")
    return widgets.VBox([widgets.HBox(list(controls.values()), layout=layout), output])


def conv_explorer(
    size: int = 7, kernel_size: int = 3, stride: int = 1, padding: int = 0, dilation: int = 1
) -> widgets.VBox:
    """Input size, kernel, stride, padding, dilation → output size and the windows, drawn.

    The plain function behind it is :func:`course_utils.lessons.conv.conv_geometry`.
    """
    conv_geometry(size, kernel_size, stride, padding, dilation)  # bad starting values fail here
    controls = _sliders("conv", size=size, kernel_size=kernel_size, stride=stride, padding=padding,
                        dilation=dilation)

    def render(**values: int) -> None:
        geometry = conv_geometry(**values)
        print(geometry.describe())
        draw_windows(geometry)
        plt.show()

    return _explorer(controls, render)


def pooling_explorer(
    size: int = 6, kernel_size: int = 2, stride: int = 2, mode: str = "max"
) -> widgets.VBox:
    """Map size, window, stride, max or average → the pooled map, its size, 0 parameters.

    The plain function behind it is :func:`course_utils.lessons.pooling.pooling_example`.
    """
    pooling_example(size, kernel_size, stride, mode)  # bad starting values fail here
    modes = widgets.ToggleButtons(options=[(_mode_label(name), name) for name in MODES], value=mode,
                                  description=_("pooling"))
    controls = {**_sliders("pooling", size=size, kernel_size=kernel_size, stride=stride), "mode": modes}

    def render(**values: Any) -> None:
        example = pooling_example(**values)
        print(example.describe())
        fig, (left, right) = plt.subplots(1, 2, figsize=(7, 3.5))
        scale = {"vmin": float(example.input.min()), "vmax": float(example.input.max())}
        draw_values(example.input, left, title=_("input"), **scale)
        draw_values(example.output, right, title=_("{mode} pooled").format(mode=_mode_label(example.mode)), **scale)
        plt.show()

    return _explorer(controls, render)


def receptive_field_explorer(
    n_layers: int = 3, kernel_size: int = 3, stride: int = 1, dilation: int = 1, pool_every: int = 0
) -> widgets.VBox:
    """Stack depth, kernel, stride, dilation, pooling → the receptive field, layer by layer.

    The plain function behind it is :func:`course_utils.lessons.receptive_field.receptive_field_example`
    (``pool_every=2`` puts a 2×2 max pool after every second conv layer; 0: none).
    """
    receptive_field_example(n_layers, kernel_size, stride, dilation, pool_every)  # bad values fail here
    controls = _sliders("receptive_field", n_layers=n_layers, kernel_size=kernel_size, stride=stride,
                        dilation=dilation, pool_every=pool_every)

    def render(**values: int) -> None:
        table = receptive_field_example(**values)
        print(table.describe())
        print(table)
        draw_receptive_fields(table)
        plt.show()

    return _explorer(controls, render)


def augmentation_explorer(
    photos: list, settings: TransformSettings | None = None, photo: int = 0, seed: int = 0
) -> widgets.VBox:
    """Which photo, which random draw → that photo under each augmentation step, and all of them.

    ``photos`` are PIL images or image files. The plain function behind it is
    :func:`course_utils.data.transforms.augmentation_gallery`. ``settings`` defaults to the notes'.
    """
    from PIL import Image

    settings = settings or TransformSettings()
    if not photos:
        raise ValueError(_("Give at least one photo (a PIL image or an image file)."))
    images = [p if isinstance(p, Image.Image) else Image.open(p).convert("RGB") for p in photos]
    # the photo slider's range is the photos given; the others' are the table's
    controls = {"photo": _slider(_("photo"), photo, 0, len(images) - 1), **_sliders("augmentation", seed=seed)}

    def render(photo: int, seed: int) -> None:
        gallery = augmentation_gallery(images[photo], settings, seed)
        fig, axes = plt.subplots(1, len(gallery), figsize=(2.2 * len(gallery), 2.6))
        for ax, (name, picture) in zip(axes, gallery.items(), strict=True):
            ax.imshow(picture)
            ax.set_title(name, fontsize=8)
            ax.axis("off")
        plt.show()

    return _explorer(controls, render)
