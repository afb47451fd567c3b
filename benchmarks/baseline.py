# ruff: noqa: UP032, B007
# (the notes' own spelling is kept on purpose: this file is the reference)
"""THE REFERENCE, NOT THE COURSE: the lecture notes' ``train_model`` loop, written faithfully.

This file exists only so that the benchmark can measure the course's training path
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
  of ``inference_mode``, and ``loss.item()`` / ``torch.sum(preds == labels.data)`` per batch
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

import copy
import os
import time

import torch
from torch import nn, optim
from torchvision import datasets, transforms

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


def set_parameter_requires_grad(model, feature_extracting):
    if feature_extracting:
        for param in model.parameters():
            param.requires_grad = False


def initialize_model(num_classes, feature_extract, use_pretrained=True):
    """The notes' ``initialize_model`` for the course's offline backbone, EfficientNet-Lite0."""
    from course_utils.models.efficientnet_lite import efficientnet_lite0

    model_ft = efficientnet_lite0(pretrained=use_pretrained)
    set_parameter_requires_grad(model_ft, feature_extract)
    num_ftrs = model_ft.fc.in_features
    model_ft.fc = nn.Sequential(nn.Linear(num_ftrs, num_classes), nn.LogSoftmax(dim=1))
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
# The notes' training loop
# ---------------------------------------------------------------------------------------


def train_model(model, dataloaders, criterion, optimizer, scheduler, device, num_epochs=25,
                is_inception=False, filename='checkpoint.pth', verbose=False):
    """The notes' ``train_model``: train and valid phases per epoch, best weights kept and saved.

    Returns ``model, val_acc_history, train_acc_history, valid_losses, train_losses, LRs``.
    (The notes read ``scheduler`` and ``device`` from global variables; here they are
    arguments, and ``verbose=False`` silences the per-epoch prints.)
    """
    since = time.time()
    best_acc = 0
    model.to(device)

    val_acc_history = []
    train_acc_history = []
    train_losses = []
    valid_losses = []
    LRs = [optimizer.param_groups[0]['lr']]

    best_model_wts = copy.deepcopy(model.state_dict())

    for epoch in range(num_epochs):
        if verbose:
            print('Epoch {}/{}'.format(epoch, num_epochs - 1))
            print('-' * 10)

        # 训练和验证
        for phase in ['train', 'valid']:
            if phase == 'train':
                model.train()  # 训练
            else:
                model.eval()  # 验证

            running_loss = 0.0
            running_corrects = 0

            # 把数据都取个遍
            for inputs, labels in dataloaders[phase]:
                inputs = inputs.to(device)
                labels = labels.to(device)

                # 清零
                optimizer.zero_grad()
                # 只有训练的时候计算和更新梯度
                with torch.set_grad_enabled(phase == 'train'):
                    if is_inception and phase == 'train':
                        outputs, aux_outputs = model(inputs)
                        loss1 = criterion(outputs, labels)
                        loss2 = criterion(aux_outputs, labels)
                        loss = loss1 + 0.4 * loss2
                    else:  # resnet 执行的是这里
                        outputs = model(inputs)
                        loss = criterion(outputs, labels)

                    _, preds = torch.max(outputs, 1)

                    # 训练阶段更新权重
                    if phase == 'train':
                        loss.backward()
                        optimizer.step()

                # 计算损失
                running_loss += loss.item() * inputs.size(0)
                running_corrects += torch.sum(preds == labels.data)

            epoch_loss = running_loss / len(dataloaders[phase].dataset)
            epoch_acc = running_corrects.double() / len(dataloaders[phase].dataset)

            time_elapsed = time.time() - since
            if verbose:
                print('Time elapsed {:.0f}m {:.0f}s'.format(time_elapsed // 60, time_elapsed % 60))
                print('{} Loss: {:.4f} Acc: {:.4f}'.format(phase, epoch_loss, epoch_acc))

            # 得到最好那次的模型
            if phase == 'valid' and epoch_acc > best_acc:
                best_acc = epoch_acc
                best_model_wts = copy.deepcopy(model.state_dict())
                state = {
                    'state_dict': model.state_dict(),
                    'best_acc': best_acc,
                    'optimizer': optimizer.state_dict(),
                }
                torch.save(state, filename)
            if phase == 'valid':
                val_acc_history.append(epoch_acc)
                valid_losses.append(epoch_loss)
            if phase == 'train':
                train_acc_history.append(epoch_acc)
                train_losses.append(epoch_loss)

        if verbose:
            print('Optimizer learning rate : {:.7f}'.format(optimizer.param_groups[0]['lr']))
        LRs.append(optimizer.param_groups[0]['lr'])
        scheduler.step()  # 学习率衰减
        if verbose:
            print()

    time_elapsed = time.time() - since
    if verbose:
        print('Training complete in {:.0f}m {:.0f}s'.format(time_elapsed // 60, time_elapsed % 60))
        print('Best val Acc: {:4f}'.format(best_acc))

    # 训练完后用最好的一次当做模型最终的结果
    model.load_state_dict(best_model_wts)
    return model, val_acc_history, train_acc_history, valid_losses, train_losses, LRs
