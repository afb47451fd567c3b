"""Models by name, the notes' head, freezing, and the offline EfficientNet-Lite0."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils.data.transforms import TransformSettings, eval_transform
from course_utils.lessons.pictures import SAMPLE_PHOTO
from course_utils.models import efficientnet_lite
from course_utils.models.build import build_model
from course_utils.models.efficientnet_lite import SamePadConv2d, efficientnet_lite0
from course_utils.models.heads import head_of, head_parameters, trainable_parameters, unfreeze
from course_utils.models.registry import OFFLINE_MODEL, preprocessing_for
from course_utils.training.loop import fit

# --- the offline backbone -----------------------------------------------------------------


def test_the_offline_weights_load_strictly_into_our_definition():
    model = efficientnet_lite0(pretrained=True)  # load_state_dict(strict=True) inside
    assert sum(p.numel() for p in model.parameters()) == 4_652_008
    state = torch.load(efficientnet_lite.pretrained_weights_path(), weights_only=True)
    assert len(state) == len(model.state_dict()) == 296


def test_the_offline_backbone_recognises_a_real_photograph():
    """Grace Hopper in uniform: the ImageNet classes near the top must be about clothing."""
    from matplotlib import cbook
    from PIL import Image
    from torchvision.models import ResNet18_Weights

    categories = ResNet18_Weights.IMAGENET1K_V1.meta["categories"]
    model = efficientnet_lite0().eval()
    mean, std = preprocessing_for(OFFLINE_MODEL)
    image = Image.open(cbook.get_sample_data(SAMPLE_PHOTO, asfileobj=False)).convert("RGB")
    with torch.no_grad():
        top5 = model(eval_transform(TransformSettings(224, mean, std))(image)[None])[0].topk(5).indices
    names = {categories[i] for i in top5}
    assert "military uniform" in names
    assert names & {"academic gown", "mortarboard", "suit", "Windsor tie", "bow tie"}


@pytest.mark.parametrize("size", [7, 8, 160, 161])
def test_same_padding_pads_like_tensorflow(size):
    conv = SamePadConv2d(1, 1, 3, stride=2)
    nn.init.ones_(conv.weight)
    x = torch.ones(1, 1, size, size)
    y = conv(x)
    assert y.shape[-1] == -(-size // 2)  # ceil(size / stride)
    # On an even input TensorFlow puts its single zero row/column at the bottom/right, so the first
    # window lies inside the image (sum 9); PyTorch's padding=1 puts zeros on top/left too (sum 4).
    symmetric = F.conv2d(x, conv.weight, stride=2, padding=1)
    if size % 2 == 0:
        assert y[0, 0, 0, 0] == 9 and symmetric[0, 0, 0, 0] == 4
    else:
        assert torch.equal(y, symmetric)


# --- models by name, the head, freezing ---------------------------------------------------


@pytest.mark.parametrize("name, head, layer", [("resnet18", "fc", "fc.0"), (OFFLINE_MODEL, "fc", "fc.0"),
                                               ("mobilenet_v3_small", "classifier.3", "classifier.3.0"),
                                               ("squeezenet1_1", "classifier.1", "classifier.1")])
def test_build_model_puts_a_new_log_softmax_head_and_freezes_the_rest(name, head, layer, context):
    model = build_model(name, 7, pretrained=name == OFFLINE_MODEL, feature_extract=True, context=context).eval()
    assert head_of(model).name == head  # recorded where it was put
    trainable = [n for n, _ in trainable_parameters(model)]
    assert trainable == [f"{layer}.weight", f"{layer}.bias"]
    assert [p.requires_grad for p in head_parameters(model)] == [True, True]
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 7)
    assert torch.allclose(out.exp().sum(dim=1), torch.ones(2), atol=1e-5)  # log-probabilities


def test_without_feature_extract_everything_trains_and_heads_can_be_plain(context):
    model = build_model("resnet18", 3, pretrained=False, feature_extract=False, log_softmax=False, context=context)
    assert all(p.requires_grad for p in model.parameters())
    assert isinstance(model.fc, nn.Linear) and model.fc.out_features == 3


def test_unknown_names_and_missing_offline_weights_are_explained(monkeypatch, tmp_path, context):
    with pytest.raises(ValueError, match="efficientnet_lite0"):
        build_model("resnet-18", 3, context=context)
    with pytest.raises(ValueError, match="at least 2"):
        build_model(OFFLINE_MODEL, 1, context=context)
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(RuntimeError, match="not in the cache.*efficientnet_lite0"):
        build_model("resnet18", 3, pretrained=True, context=context)


def test_unfreeze_keeps_batchnorm_frozen_unless_asked(context):
    model = build_model(OFFLINE_MODEL, 4, pretrained=False, context=context)
    unfrozen = unfreeze(model)
    bn = [p for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters()]
    assert unfrozen and not any(p.requires_grad for p in bn)
    assert all(p.requires_grad for p in model.conv_stem.parameters())
    assert unfreeze(model, batchnorm=True) and all(p.requires_grad for p in bn)


# --- a frozen backbone stays frozen -------------------------------------------------------


def _tiny_loader(n: int = 16, size: int = 64) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    images = torch.randn(n, 3, size, size, generator=g) * 1.5 + 0.3  # statistics unlike ImageNet's
    return DataLoader(TensorDataset(images, torch.arange(n) % 4), batch_size=8)


def _backbone_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("fc.")}


def test_a_stage1_epoch_leaves_every_backbone_tensor_unchanged(context):
    model = build_model(OFFLINE_MODEL, 4, feature_extract=True, context=context)
    before = _backbone_state(model)
    optimizer = torch.optim.Adam([p for _, p in trainable_parameters(model)], lr=1e-2)
    fit(model, _tiny_loader(), _tiny_loader(8), epochs=1, optimizer=optimizer, criterion=nn.NLLLoss(), progress=False, context=context)
    after = _backbone_state(model)
    assert before.keys() == after.keys() and any(k.endswith("running_var") for k in before)
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed == []
    assert not torch.equal(model.fc[0].weight, build_model(OFFLINE_MODEL, 4, context=context).fc[0].weight)  # the head learned
