"""The two-stage recipe diagram writes the rates and epochs it is given, frozen parts in gray."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from course_utils.lessons.transfer_recipe import transfer_recipe_diagram


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _boxes(ax, gid):
    return [p for p in ax.patches if p.get_gid() == gid]


def test_each_stage_shows_what_is_frozen_and_each_rate():
    fig = transfer_recipe_diagram(backbone="EfficientNet-Lite0", head="Linear(1280 → 102)",
                                  stage1_lr=3e-3, stage1_epochs=6,
                                  stage2_backbone=[("early blocks", None), ("late blocks", 1e-5)],
                                  stage2_head_lr=1e-4, stage2_epochs=4)
    first, second = fig.axes
    assert first.get_title().startswith("stage 1: 6 epochs") and second.get_title().startswith("stage 2: 4 epochs")
    assert len(_boxes(first, "frozen")) == 1 and len(_boxes(first, "trains")) == 1
    assert len(_boxes(second, "frozen")) == 1 and len(_boxes(second, "trains")) == 2
    one = [t.get_text() for t in first.texts]
    two = [t.get_text() for t in second.texts]
    assert "trains, lr 0.003" in one and "EfficientNet-Lite0" in one and "frozen" in one
    assert "trains, lr 1e-05" in two and "trains, lr 0.0001" in two and "frozen" in two
    assert two.index("early blocks") < two.index("late blocks") < two.index("Linear(1280 → 102)")
    assert "EfficientNet-Lite0" in two  # the bracket over the backbone's parts


def test_a_whole_backbone_can_unfreeze():
    fig = transfer_recipe_diagram(stage2_backbone=[("all of it", 1e-4)], stage2_epochs=1)
    assert not _boxes(fig.axes[1], "frozen") and fig.axes[1].get_title().startswith("stage 2: 1 epoch,")


@pytest.mark.parametrize("arguments, message", [
    ({"stage1_lr": 0}, "positive number"),
    ({"stage2_backbone": [("late", -1.0)]}, "'late'"),
    ({"stage2_backbone": []}, "at least one part"),
    ({"stage2_head_lr": True}, "stage2_head_lr"),
])
def test_bad_recipes_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        transfer_recipe_diagram(**arguments)
    with pytest.raises(ValueError):
        transfer_recipe_diagram(stage1_epochs=0)
