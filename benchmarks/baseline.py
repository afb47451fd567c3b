# ruff: noqa: UP032, B007
# (the notes' own spelling is kept on purpose: this file is the reference)
"""THE REFERENCE, NOT THE COURSE: the lecture notes' ``train_model`` loop, written faithfully.

The loop and the model set-up are the package's copy of the notes' code
(:mod:`course_utils.training.notes_code`, which notebooks 05 and 06 define in code cells); this
file adds the notes' data pipeline and the two stages' set-up. It exists only so that the
benchmark can measure the course's training path
(:mod:`course_utils.training.loop`, :mod:`course_utils.transfer.features`) against what the notes do.
Do not import it from a notebook, and do not copy it: it keeps the notes' habits on
purpose, including the slow and the questionable ones:

- ``model.train()`` for the whole model, so even a *frozen* backbone's BatchNorm layers keep
  updating their running statistics in stage 1 (``course_utils.training.loop.train_mode`` fixes that);
- a full backbone forward pass for every image in every epoch of stage 1, although only the
  head learns (``course_utils.transfer.features`` pays for it once);
- ``DataLoader(batch_size, shuffle=True)`` with no worker processes: decoding and augmentation
  happen in the training process, between steps, and the validation loader shuffles too;
- ``optimizer.zero_grad()``, ``torch.set_grad_enabled(phase == 'train')`` for validation instead
  of ``inference_mode``, and ``loss.item()`` / ``(preds == labels).sum().item()`` per batch
  (each one makes the CPU wait for the GPU);
- ``copy.deepcopy(model.state_dict())`` and ``torch.save`` of the model and optimizer whenever
  the validation accuracy improves; ``scheduler.step()`` once per epoch;
- everything in float32 and the default memory format.

What the benchmark shares with the course's side so that the comparison is fair: the model
(EfficientNet-Lite0 with the notes' head, ``Linear`` + ``LogSoftmax`` and ``NLLLoss``), the
optimizer (Adam) and its learning rates, ``StepLR(step_size=7, gamma=0.1)``, the batch size,
the images, the epochs and the transforms (the notes' augmentation, with a ``Resize`` first
because our images are not the notes' large photographs; the benchmark checks that they
equal ``course_utils.data.transforms``).
"""

from __future__ import annotations

import contextlib
import io
import os

import torch
from torch import nn, optim
from torchvision import datasets, transforms

from course_utils.training import notes_code

# ---------------------------------------------------------------------------------------
# The notes' data pipeline: transforms, ImageFolder, DataLoader
# ---------------------------------------------------------------------------------------


def notes_transforms(image_size: int = 224, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)):
    """The notes' ``data_transforms`` dictionary (train: augmentation; valid: resize and crop)."""
    resize = round(image_size * 256 / 224)  # 256 for 224, as in the notes
    return {
        'train': transforms.Compose([
            transforms.Resize(resize),  # added: our photographs are small (see the module docstring)
            transforms.RandomRotation(45),  # 随机旋转, -45 到 45 度之间随机选
            transforms.CenterCrop(image_size),  # 从中心开始裁剪
            transforms.RandomHorizontalFlip(p=0.5),  # 随机水平翻转
            transforms.RandomVerticalFlip(p=0.5),  # 随机垂直翻转
            transforms.ColorJitter(brightness=0.2, contrast=0.1, saturation=0.1, hue=0.1),
            transforms.RandomGrayscale(p=0.025),  # 概率转换成灰度率
            transforms.ToTensor(),
            transforms.Normalize(list(mean), list(std)),
        ]),
        'valid': transforms.Compose([
            transforms.Resize(resize),
            transforms.CenterCrop(image_size),
            transforms.ToTensor(),
            transforms.Normalize(list(mean), list(std)),
        ]),
    }


def notes_dataloaders(data_dir: str, data_transforms: dict, batch_size: int = 8, samples: dict | None = None):
    """``ImageFolder`` per split and ``DataLoader(batch_size, shuffle=True)``, as in the notes.

    ``samples`` (benchmark only) replaces each split's list of files, so that both sides of
    the benchmark train on exactly the same images when a run is limited to a few per class.
    """
    image_datasets = {x: datasets.ImageFolder(os.path.join(data_dir, x), data_transforms[x])
                      for x in ['train', 'valid']}
    if samples is not None:
        for x in ['train', 'valid']:
            image_datasets[x].samples = image_datasets[x].imgs = list(samples[x])
            image_datasets[x].targets = [t for _, t in samples[x]]
    dataloaders = {x: torch.utils.data.DataLoader(image_datasets[x], batch_size=batch_size, shuffle=True)
                   for x in ['train', 'valid']}
    return image_datasets, dataloaders


# ---------------------------------------------------------------------------------------
# The notes' model set-up: pretrained backbone, frozen, new head
# ---------------------------------------------------------------------------------------


def initialize_model(num_classes, feature_extract, use_pretrained=True):
    """The notes' ``initialize_model`` for the course's offline backbone, EfficientNet-Lite0."""
    model_ft, _ = notes_code.initialize_model("efficientnet_lite0", num_classes, feature_extract, use_pretrained)
    return model_ft


def params_to_update(model_ft, feature_extract):
    """The notes print and collect the parameters that will train."""
    params = model_ft.parameters()
    if feature_extract:
        params = []
        for name, param in model_ft.named_parameters():
            if param.requires_grad:
                params.append(param)
    return params


def stage1_setup(num_classes, lr=1e-2):
    """Stage 1: frozen backbone, new head, Adam on the head, StepLR(7, 0.1), NLLLoss."""
    model_ft = initialize_model(num_classes, feature_extract=True)
    optimizer_ft = optim.Adam(params_to_update(model_ft, True), lr=lr)
    scheduler = optim.lr_scheduler.StepLR(optimizer_ft, step_size=7, gamma=0.1)  # 学习率每7个epoch衰减成原来的1/10
    criterion = nn.NLLLoss()
    return model_ft, optimizer_ft, scheduler, criterion


def stage2_setup(model_ft, checkpoint_file, lr=1e-4):
    """Stage 2: load the best stage-1 weights, train every layer with a smaller learning rate.

    The notes also load the stage-1 optimizer state into the new optimizer; that fails
    (the new optimizer has more parameters than the saved one), so it is left out here.
    """
    if os.path.exists(checkpoint_file):  # (the notes assume stage 1 saved one; a tiny run may not have)
        checkpoint = torch.load(checkpoint_file, weights_only=True)
        model_ft.load_state_dict(checkpoint['state_dict'])
    for param in model_ft.parameters():
        param.requires_grad = True
    optimizer = optim.Adam(model_ft.parameters(), lr=lr)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=7, gamma=0.1)
    return optimizer, scheduler


# ---------------------------------------------------------------------------------------
# The notes' training loop: course_utils.training.notes_code.train_model (notebook 05 shows it)
# ---------------------------------------------------------------------------------------


def train_model(model, dataloaders, criterion, optimizer, scheduler, device, num_epochs=25,
                is_inception=False, filename='checkpoint.pth'):
    """The notes' ``train_model`` (the package's copy, which notebook 05 defines), its prints silenced."""
    with contextlib.redirect_stdout(io.StringIO()):
        return notes_code.train_model(model, dataloaders, criterion, optimizer, scheduler, num_epochs=num_epochs,
                                      is_inception=is_inception, filename=filename, device=device)
