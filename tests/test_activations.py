"""course_utils.analysis.activations (kernels, feature maps) and course_utils.lessons.model_tour."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
import torchvision
from torch import nn

from course_utils.analysis.activations import capture_activations, filter_pictures, strongest_maps
from course_utils.lessons.model_tour import describe_output


def test_capture_keeps_the_outputs_of_the_named_layers():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=3)
    model.train()
    images = torch.randn(2, 3, 64, 64)
    kept = capture_activations(model, images, {"low": model.layer1, "high": model.layer4})
    assert list(kept) == ["low", "high"]
    assert kept["low"].shape == (2, 64, 16, 16) and kept["high"].shape == (2, 512, 2, 2)
    assert model.training and not model.layer1._forward_hooks and not model.layer4._forward_hooks
    model.eval()
    with torch.no_grad():  # the same numbers as running the layers by hand in evaluation mode
        x = model.maxpool(model.relu(model.bn1(model.conv1(images))))
        torch.testing.assert_close(kept["low"], model.layer1(x))
    with pytest.raises(ValueError, match="not a module"):
        capture_activations(model, images, {"other": nn.Conv2d(3, 3, 1)})
    with pytest.raises(ValueError, match="at least one"):
        capture_activations(model, images, {})


def test_filter_pictures_stretch_each_kernel_to_the_unit_range():
    weight = torch.randn(8, 3, 5, 5) * torch.arange(1, 9).view(8, 1, 1, 1)
    pictures = filter_pictures(weight)
    assert pictures.shape == weight.shape
    assert torch.allclose(pictures.amin(dim=(1, 2, 3)), torch.zeros(8))
    assert torch.allclose(pictures.amax(dim=(1, 2, 3)), torch.ones(8))
    with pytest.raises(ValueError, match="RGB kernels"):
        filter_pictures(torch.randn(8, 16, 3, 3))


def test_strongest_maps_are_sorted_by_mean_activation():
    maps = torch.stack([torch.full((4, 4), float(v)) for v in (0.5, 3.0, -1.0, 2.0)])
    strongest, channels = strongest_maps(maps[None], n=2)
    assert channels == [1, 3] and torch.equal(strongest, maps[[1, 3]])


def test_describe_output_writes_the_structure():
    assert describe_output(torch.zeros(2, 1000)) == "Tensor[2, 1000] float32"
    text = describe_output(OrderedDict(out=torch.zeros(1, 21, 8, 8)))
    assert text == "OrderedDict with 1 keys:\n  'out': Tensor[1, 21, 8, 8] float32"
    detections = [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}]
    assert describe_output(detections) == (
        "list of 1:\n  dict with 2 keys:\n    'boxes': Tensor[0, 4] float32\n    'labels': Tensor[0] int64")
    nested = describe_output({"a": [torch.zeros(1)]})
    assert nested.splitlines()[1].strip() == "'a':" and "Tensor[1] float32" in nested
