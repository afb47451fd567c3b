"""course_utils.analysis.gradcam against Captum's LayerGradCam: same model, images, layer, classes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from course_utils.analysis.gradcam import grad_cam, heat_shares

captum_attr = pytest.importorskip("captum.attr", reason="captum is a test dependency (pip install -e .[dev])")


def reference(model: nn.Module, images: torch.Tensor, layer: nn.Module, classes: list[int]):
    """Captum's Grad-CAM at the layer's resolution and upsampled to the image size (bilinear)."""
    model.eval()
    raw = captum_attr.LayerGradCam(model, layer).attribute(images, target=classes, relu_attributions=True)
    upsampled = captum_attr.LayerAttribution.interpolate(raw, tuple(images.shape[-2:]), "bilinear")
    return raw[:, 0].detach(), upsampled[:, 0].detach()


def normalised(maps: torch.Tensor) -> torch.Tensor:
    peak = maps.amax(dim=(1, 2), keepdim=True)
    return torch.where(peak > 0, maps / peak.clamp_min(1e-12), torch.zeros_like(maps))


def assert_matches_captum(model, images, layer, classes):
    ours = grad_cam(model, images, layer, classes=classes)
    raw, upsampled = reference(model, images, layer, classes)
    assert ours.raw.shape == raw.shape
    scale = float(raw.abs().max())
    assert scale > 0, "the reference map is all zeros: the comparison would prove nothing"
    torch.testing.assert_close(ours.raw, raw, rtol=1e-4, atol=1e-5 * scale)
    torch.testing.assert_close(ours.heatmaps, normalised(upsampled), rtol=1e-4, atol=1e-4)
    assert ours.classes.tolist() == classes
    return ours


def test_resnet18_random_weights_matches_captum():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=10).eval()
    images = torch.randn(3, 3, 96, 112)  # not square: the upsampling must keep height and width apart
    ours = assert_matches_captum(model, images, model.layer4, [3, 7, 0])
    assert ours.raw.shape == (3, 3, 4) and ours.heatmaps.shape == (3, 96, 112)
    assert ours.weights.shape == (3, 512)
    # and at a middle layer, where the map is finer
    assert_matches_captum(model, images, model.layer2, [1, 1, 9])


def test_pretrained_lite0_on_a_real_photo_matches_captum(context):
    from matplotlib import cbook
    from PIL import Image

    from course_utils.data.transforms import TransformSettings, eval_transform
    from course_utils.lessons.pictures import SAMPLE_PHOTO
    from course_utils.models.build import build_model
    from course_utils.models.registry import OFFLINE_MODEL, preprocessing_for

    mean, std = preprocessing_for(OFFLINE_MODEL)
    transform = eval_transform(TransformSettings(image_size=160, resize_to=160, mean=mean, std=std))
    with Image.open(cbook.get_sample_data(SAMPLE_PHOTO, asfileobj=False)) as photo:
        image = transform(photo.convert("RGB"))
    torch.manual_seed(0)
    model = build_model(OFFLINE_MODEL, 5, feature_extract=True, log_softmax=False, context=context)  # frozen, as in notebook 08
    images = torch.stack([image, image.flip(-1)])
    with torch.no_grad():
        predicted = model.eval()(images).argmax(1).tolist()
    ours = assert_matches_captum(model, images, model.bn1, predicted)
    assert ours.raw.shape == (2, 5, 5) and ours.heatmaps.shape == (2, 160, 160)


def test_explains_the_predicted_class_and_leaves_the_model_as_it_was():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=4)
    for p in model.parameters():
        p.requires_grad_(False)  # frozen: the gradient still reaches the layer through the input
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    images = torch.randn(2, 3, 64, 64)
    result = grad_cam(model, images, model.layer4)
    assert model.training, "the model's mode must be restored"
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items()), "nothing may change"
    assert not model.layer4._forward_hooks, "the hook must be removed"
    assert all(p.grad is None for p in model.parameters())
    with torch.no_grad():
        assert result.classes.tolist() == model.eval()(images).argmax(1).tolist()
    assert float(result.heatmaps.min()) >= 0 and float(result.heatmaps.max()) == pytest.approx(1.0)


def test_the_weights_are_the_averaged_gradients_and_the_map_their_weighted_sum():
    """A two-layer model small enough to compute Grad-CAM by hand."""
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, padding=1)
    model = nn.Sequential(conv, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)).eval()
    image = torch.randn(1, 3, 6, 6)
    result = grad_cam(model, image, model[1], classes=1)
    activations = F.relu(conv(image))[0].detach()
    # d score / d A[k, i, j] = w[1, k] / (h w) everywhere, so its average is w[1, k] / 36
    alpha = model[4].weight[1].detach() / 36
    torch.testing.assert_close(result.weights[0], alpha)
    torch.testing.assert_close(result.raw[0], F.relu((alpha[:, None, None] * activations).sum(0)))


def test_bad_input_gets_a_clear_error():
    model = torchvision.models.resnet18(weights=None, num_classes=3)
    with pytest.raises(ValueError, match="batch"):
        grad_cam(model, torch.randn(3, 32, 32), model.layer4)
    with pytest.raises(ValueError, match="module of model"):
        grad_cam(model, torch.randn(1, 3, 32, 32), nn.Conv2d(3, 3, 1))
    with pytest.raises(ValueError, match="feature maps"):
        grad_cam(model, torch.randn(1, 3, 32, 32), model.fc)


def test_heat_shares_find_heat_on_the_border_and_in_the_centre():
    maps = torch.zeros(3, 16, 16)
    maps[0, 14:, :4] = 1.0  # a "watermark" in a corner
    maps[1, 6:10, 6:10] = 1.0  # the middle
    even = heat_shares(torch.ones(1, 16, 16))
    found = heat_shares(maps)
    assert found.border_area == pytest.approx(1 - (12 / 16) ** 2) and found.centre_area == pytest.approx(0.25)
    assert float(even.border[0]) == pytest.approx(found.border_area)  # an even map: shares equal areas
    assert float(even.centre[0]) == pytest.approx(found.centre_area)
    assert found.border[:2].tolist() == [1.0, 0.0] and found.centre[:2].tolist() == [0.0, 1.0]
    assert found.on_border[:2].tolist() == [True, False]
    assert torch.isnan(found.border[2])  # an all-zero map has no mass to share
    with pytest.raises(ValueError, match="margin"):
        heat_shares(maps, margin=0.5)
    with pytest.raises(ValueError, match="batch"):
        heat_shares(maps[0])
