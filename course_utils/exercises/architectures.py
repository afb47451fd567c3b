"""Checkers for notebook 05 (classic architectures): a residual block written from scratch, the notes'
first CNN with strided convolutions in place of max pooling, the valid phase of the notes'
``train_model``, and the notebook's two predictions (how many learning rates ``LRs`` holds, the
parameters of a projection shortcut). Every sentence goes through ``_()`` (the Chinese edition)."""

from __future__ import annotations

import contextlib
import copy
import io
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils.exercises.prediction import compare_prediction
from course_utils.exercises.verdict import Mistake, Verdict, attempt, checker, right
from course_utils.i18n import gettext as _
from course_utils.lessons.architectures import FirstCNN, ResidualBlock
from course_utils.lessons.conv import conv_output_size
from course_utils.lessons.summary import count_parameters
from course_utils.training.notes_code import train_model

__all__ = ["check_lrs_entries", "check_residual_block", "check_shortcut_parameters", "check_strided_first_cnn",
           "check_valid_phase"]


def _forward(block: nn.Module, x: torch.Tensor, call: str) -> torch.Tensor:
    with torch.no_grad():
        return attempt(block, x, call=call)


@checker
def check_residual_block(block_class: Callable[..., nn.Module]) -> Verdict:
    """Check a class ``Block(in_channels, out_channels, stride=1)``: ``relu(F(x) + shortcut(x))``."""
    same = attempt(block_class, 8, 8, call="Block(8, 8)")
    down = attempt(block_class, 8, 16, stride=2, call="Block(8, 16, stride=2)")
    if not isinstance(same, nn.Module) or not isinstance(down, nn.Module):
        raise Mistake(_("Block(...) must build an nn.Module: make your class inherit from nn.Module."))
    x = torch.randn(2, 8, 12, 12, generator=torch.Generator().manual_seed(0))
    out = _forward(same.eval(), x, "Block(8, 8)(x)")
    if tuple(out.shape) != tuple(x.shape):
        raise Mistake(_("Block(8, 8) turns {shape} into {output}: with the same channels and stride 1 it "
                        "must keep the shape (padding 1 for 3×3 kernels).").format(
            shape=tuple(x.shape), output=tuple(out.shape)))
    try:
        with torch.no_grad():
            out_down = down.eval()(x)
    except RuntimeError as error:
        if "size of tensor" in str(error):
            raise Mistake(_("Block(8, 16, stride=2) cannot add x to F(x), whose shape differs: give the "
                            "shortcut a 1×1 convolution with the new channels and stride.")) from error
        raise Mistake(_("Block(8, 16, stride=2)(x) raised RuntimeError: {error}").format(
            error=str(error).splitlines()[0])) from error
    if tuple(out_down.shape) != (2, 16, 6, 6):
        raise Mistake(_("Block(8, 16, stride=2) gives {shape}, not (2, 16, 6, 6): the first convolution "
                        "has the stride, and both paths end with 16 channels.").format(shape=tuple(out_down.shape)))
    if sum(isinstance(m, nn.Conv2d) for m in same.modules()) < 2:
        raise Mistake(_("F(x) is two 3×3 convolutions (each followed by BatchNorm, a ReLU between them)."))
    if torch.allclose(out, torch.relu(x), atol=1e-6):
        raise Mistake(_("with random weights your block still returns relu(x): F(x) is not added."))
    for parameter in same.parameters():
        nn.init.zeros_(parameter)
    zeroed = _forward(same, x, _("Block(8, 8)(x) with F(x) = 0"))
    if torch.allclose(zeroed, torch.relu(x), atol=1e-6):
        return right(_("shapes kept and changed as they should, and with F(x) = 0 the block returns "
                       "relu(x): the identity path is there."))
    if torch.allclose(zeroed, x, atol=1e-6):
        raise Mistake(_("the block must end with a ReLU after the addition: relu(F(x) + x)."))
    if any(isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) for m in same.modules()):
        raise Mistake(_("when the shape does not change the shortcut must be the identity, not a 1×1 "
                        "convolution: only then does the block start as the identity, relu(x)."))
    if torch.allclose(zeroed, torch.zeros_like(zeroed)):
        raise Mistake(_("with F(x) = 0 your block returns zeros, not relu(x): add the input back, "
                        "relu(F(x) + x), with an identity shortcut when the shape does not change."))
    raise Mistake(_("with F(x) = 0 your block should return relu(x): the shortcut must be the identity "
                    "when the shape does not change."))


@checker
def check_strided_first_cnn(model: nn.Module) -> Verdict:
    """Check the notes' first CNN with each ``MaxPool2d`` replaced by a stride-2 convolution."""
    if not isinstance(model, nn.Module):
        raise Mistake(_("give the network itself (an nn.Module), not {type}.").format(type=type(model).__name__))
    if any(isinstance(m, nn.MaxPool2d) for m in model.modules()):
        raise Mistake(_("there is still a MaxPool2d in your network: replace both poolings."))
    with torch.device("meta"):  # shapes and counts only: no memory, no random numbers drawn
        reference = FirstCNN()
    channels = [m.out_channels for m in reference.modules() if isinstance(m, nn.Conv2d)]
    strided = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    if len(strided) != len(channels):
        raise Mistake(_("expected {expected} convolutions with stride 2 (one per pooling), found {found}.").format(
            expected=len(channels), found=len(strided)))
    side = 28
    for conv, width in zip(strided, channels, strict=True):
        if (conv.in_channels, conv.out_channels) != (width, width):
            raise Mistake(_("a convolution that replaces pooling keeps the number of maps: {width} in, "
                            "{width} out, not {given_in} → {given_out}.").format(
                width=width, given_in=conv.in_channels, given_out=conv.out_channels))
        padding = conv.padding[0] if isinstance(conv.padding, tuple) else 0  # "same"/"valid" are strings
        halved = conv_output_size(side, conv.kernel_size[0], 2, padding)
        if halved != side // 2:
            raise Mistake(_("the strided convolution after {side}×{side} maps gives {halved}×{halved}, but "
                            "the pooling it replaces gave {half}×{half}: use kernel 2, stride 2 (or kernel 3, "
                            "stride 2, padding 1).").format(side=side, halved=halved, half=side // 2))
        side //= 2
    out = _forward(model.eval(), torch.zeros(1, 1, 28, 28), _("model(one 1×28×28 digit)"))
    if tuple(out.shape) != (1, 10):
        raise Mistake(_("one digit gives scores of shape {shape}, not (1, 10).").format(shape=tuple(out.shape)))
    added = count_parameters(model) - count_parameters(reference)
    return right(_("no pooling left, one digit still gives 10 scores, and the strided convolutions add "
                   "{added:,} parameters to the {total:,} of FirstCNN.").format(
        added=added, total=count_parameters(reference)))


@checker
def check_lrs_entries(entries: int, num_epochs: int = 2) -> Verdict:
    """Predict how many learning rates the notes' ``train_model`` returns in ``LRs`` for ``num_epochs``."""
    with torch.random.fork_rng(), tempfile.TemporaryDirectory() as folder:  # the notebook's generators untouched
        torch.manual_seed(0)
        model = nn.Linear(2, 2)
        data = TensorDataset(torch.randn(4, 2), torch.tensor([0, 1, 0, 1]))
        loaders = {"train": DataLoader(data, batch_size=2), "valid": DataLoader(data, batch_size=2)}
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.1)
        with contextlib.redirect_stdout(io.StringIO()):
            *_history, LRs = train_model(model, loaders, nn.CrossEntropyLoss(), optimizer, scheduler,
                                  num_epochs=num_epochs, filename=str(Path(folder) / "checkpoint.pth"))
    return compare_prediction(
        entries, len(LRs), what=_("the number of entries in LRs"),
        because=_("LRs starts with the rate before the first epoch, then gets one rate after every epoch."),
        slips=[(num_epochs, _("one per epoch is what the other four lists hold; look at the line before the "
                              "loop: LRs does not start empty.")),
               (2 * num_epochs + 1, _("the rate is appended once per epoch, after both phases, not once per phase.")),
               (2 * num_epochs, _("the rate is appended once per epoch, after both phases, not once per phase."))],
        hint=_("count the append in the loop, and what the list holds before the loop starts."))


@checker
def check_shortcut_parameters(parameters: int, in_channels: int = 64, out_channels: int = 128) -> Verdict:
    """Predict the parameters of the projection shortcut of ``ResidualBlock(64, 128, stride=2)``."""
    with torch.device("meta"):  # shapes only: nothing drawn, nothing stored
        shortcut = ResidualBlock(in_channels, out_channels, stride=2).shortcut
    weights = in_channels * out_channels
    return compare_prediction(
        parameters, count_parameters(shortcut), what=_("the projection shortcut's parameters"),
        because=_("a 1×1 convolution without bias ({inputs}·{outputs} weights) and a BatchNorm (a scale and a "
                  "shift for each of the {outputs} channels).").format(inputs=in_channels, outputs=out_channels),
        slips=[(weights, _("the shortcut's BatchNorm has parameters too: a scale and a shift per channel.")),
               (weights + out_channels + 2 * out_channels, _("the 1×1 convolution has no bias (bias=False): the "
                                                             "BatchNorm after it shifts each channel instead.")),
               (weights + 4 * out_channels, _("BatchNorm's running mean and variance are buffers, not "
                                              "parameters: they are measured, not trained.")),
               (9 * weights + 2 * out_channels, _("the projection is a 1×1 convolution: one weight per input "
                                                  "and output channel, not 3×3."))],
        hint=_("the shortcut is a 1×1 convolution followed by a BatchNorm."))


def _valid_data() -> tuple[nn.Sequential, DataLoader]:
    """A small model with BatchNorm (so that a missing ``model.eval()`` shows) and batches of 4, 4 and 2."""
    generator = torch.Generator().manual_seed(0)
    norm = nn.BatchNorm1d(8)
    model = nn.Sequential(nn.Linear(6, 8), norm, nn.ReLU(), nn.Linear(8, 3))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
        norm.running_mean = torch.randn(8, generator=generator)
        norm.running_var = torch.rand(8, generator=generator) * 1.5 + 0.5
    data = TensorDataset(torch.randn(10, 6, generator=generator), torch.randint(0, 3, (10,), generator=generator))
    return model.train(), DataLoader(data, batch_size=4)


def _phase(model: nn.Module, loader: DataLoader, per_batch: bool = False) -> tuple[float, float]:
    """The right valid phase (``per_batch``: the mean of the batches' means, a usual slip)."""
    criterion, losses, sizes, correct = nn.CrossEntropyLoss(), [], [], 0
    with torch.no_grad():
        for inputs, labels in loader:
            outputs = model(inputs)
            losses.append(criterion(outputs, labels).item())
            sizes.append(len(labels))
            correct += int((outputs.argmax(1) == labels).sum())
    if per_batch:
        return sum(losses) / len(losses), correct / sum(sizes)
    return sum(loss * n for loss, n in zip(losses, sizes, strict=True)) / sum(sizes), correct / sum(sizes)


@checker
def check_valid_phase(valid_phase: Callable[..., tuple]) -> Verdict:
    """Check ``valid_phase(model, dataloader, criterion, best_acc, best_model_wts)``: the notes' valid
    phase of one epoch and its best-epoch bookkeeping, returning ``(epoch_loss, epoch_acc, best_acc,
    best_model_wts)``."""
    model, loader = _valid_data()
    expected_loss, expected_acc = _phase(copy.deepcopy(model).eval(), loader)
    in_train_mode = _phase(copy.deepcopy(model).train(), loader)  # BatchNorm on each batch's statistics
    batch_means = _phase(copy.deepcopy(model).eval(), loader, per_batch=True)[0]
    model.train()  # as the training phase leaves it
    grad_seen: list[bool] = []
    hook = model.register_forward_hook(lambda *_: grad_seen.append(torch.is_grad_enabled()))
    try:
        result = attempt(valid_phase, model, loader, nn.CrossEntropyLoss(), 0.0, {},
                         call="valid_phase(model, dataloader, criterion, 0.0, {})")
    finally:
        hook.remove()
    if not isinstance(result, tuple) or len(result) != 4:
        raise Mistake(_("return four values: epoch_loss, epoch_acc, best_acc, best_model_wts."))
    epoch_loss, epoch_acc, best_acc, best_wts = (float(v) if i < 3 else v for i, v in enumerate(result))
    if not grad_seen:
        raise Mistake(_("valid_phase never ran the model: loop over the dataloader and call model(inputs)."))
    if any(grad_seen):
        raise Mistake(_("the valid phase computes no gradients: run it under torch.no_grad() (the notes: "
                        "torch.set_grad_enabled(phase == 'train'))."))
    if abs(epoch_acc - expected_acc) > 1e-6 or abs(epoch_loss - expected_loss) > 1e-5:
        if abs(epoch_loss - in_train_mode[0]) < 1e-5 and abs(epoch_acc - in_train_mode[1]) < 1e-6:
            raise Mistake(_("the model is still in training mode, so BatchNorm normalises with each batch's "
                            "statistics: call model.eval() first."))
        if abs(epoch_loss - batch_means) < 1e-5:
            raise Mistake(_("you averaged the batches' mean losses, but the last batch is smaller: add "
                            "loss.item() * inputs.size(0) and divide by len(dataloader.dataset)."))
        raise Mistake(_("epoch_loss {loss:.4f} and epoch_acc {accuracy:.4f} should be {expected_loss:.4f} and "
                        "{expected_accuracy:.4f}: the loss and accuracy over every image.").format(
            loss=epoch_loss, accuracy=epoch_acc, expected_loss=expected_loss, expected_accuracy=expected_acc))
    if best_acc != epoch_acc or not isinstance(best_wts, dict) or set(best_wts) != set(model.state_dict()):
        raise Mistake(_("this epoch beats best_acc = 0.0, so best_acc becomes epoch_acc and best_model_wts "
                        "the model's state_dict()."))
    first = model[0]
    assert isinstance(first, nn.Linear)
    with torch.no_grad():
        first.weight.add_(1.0)  # the next epoch's training changes the model...
    if torch.equal(best_wts["0.weight"], first.weight):  # ...but not the weights kept as the best
        raise Mistake(_("best_model_wts changed when the model trained on: state_dict() holds references to "
                        "the model's tensors; keep a copy, copy.deepcopy(model.state_dict())."))
    kept = {"sentinel": torch.zeros(1)}
    result = attempt(valid_phase, model, loader, nn.CrossEntropyLoss(), 1.0, kept,
                     call="valid_phase(model, dataloader, criterion, 1.0, best_model_wts)")
    if float(result[2]) != 1.0 or result[3] is not kept:
        raise Mistake(_("an epoch that is not better than best_acc must leave best_acc and best_model_wts "
                        "as they were."))
    return right(_("loss and accuracy over every image in evaluation mode, without gradients, and the best "
                   "epoch's weights kept as a copy only when the accuracy improves."))
