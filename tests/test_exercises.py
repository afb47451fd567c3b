"""Every checker: the notebooks' reference solutions pass, each typical wrong answer gets its
one-sentence message, and an unanswered exercise reports "not done yet" without raising."""

from __future__ import annotations

import contextlib
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.analysis.calibration import expected_calibration_error, reliability
from course_utils.exercises import NotDone, Verdict
from course_utils.exercises.architectures import (
    check_lrs_entries,
    check_residual_block,
    check_shortcut_parameters,
    check_strided_first_cnn,
    check_valid_phase,
)
from course_utils.exercises.convolution import (
    check_blur_kernel,
    check_exact_strides,
    check_one_map_shape,
    check_output_size,
    check_pointwise_parameters,
    check_strided_side,
)
from course_utils.exercises.counting import (
    check_alexnet_side,
    check_conv_parameters,
    check_doubled_widths,
    check_notes_layers,
    check_parameters_at_224,
)
from course_utils.exercises.optimizers_losses import (
    check_adamw_step,
    check_calibration_error,
    check_smoothed_confidence,
    check_smoothed_cross_entropy,
    check_step_factor,
)
from course_utils.exercises.pooling import (
    check_avg_pool_2x2,
    check_max_pool_gradient,
    check_overlap_shape,
    check_pooled_side,
    check_pooling_parameters,
    check_pooling_savings,
)
from course_utils.exercises.prediction import compare_prediction
from course_utils.exercises.receptive_fields import (
    check_field_of,
    check_layers_for_field,
    check_stack_weights,
    check_stacked_field,
)
from course_utils.exercises.start import check_offline_wait, check_output_at
from course_utils.exercises.transfer import (
    check_backbone_passes,
    check_freeze,
    check_notes_head,
    check_stage1_parameters,
)
from course_utils.exercises.verdict import Mistake, NotRight
from course_utils.lessons.architectures import FirstCNN
from course_utils.lessons.receptive_field import receptive_field

CHECKERS = [
    check_output_at, check_offline_wait, check_output_size, check_exact_strides, check_blur_kernel,
    check_overlap_shape, check_avg_pool_2x2, check_max_pool_gradient, check_conv_parameters,
    check_doubled_widths, check_field_of, check_layers_for_field, check_residual_block,
    check_strided_first_cnn, check_notes_head, check_freeze, check_smoothed_cross_entropy,
    check_calibration_error, check_adamw_step, check_valid_phase,
]

# Predict, then run (01-04, 07): each checks a value the learner commits to before the reveal cell.
PREDICTIONS = [
    check_one_map_shape, check_strided_side, check_pointwise_parameters,
    check_pooling_parameters, check_pooled_side, check_pooling_savings,
    check_parameters_at_224, check_alexnet_side, check_notes_layers,
    check_stacked_field, check_stack_weights,
    check_step_factor, check_smoothed_confidence,
    check_lrs_entries, check_shortcut_parameters,
    check_stage1_parameters, check_backbone_passes,
]
CHECKERS += PREDICTIONS


def _stub(*args, **kwargs):
    raise NotDone()


# Checkers of a value (a number, a list, a tensor): the student build's stub is `name = ...`.
VALUE_CHECKERS = {check_offline_wait, check_exact_strides, check_blur_kernel, check_overlap_shape,
                  check_max_pool_gradient, check_doubled_widths, check_strided_first_cnn, *PREDICTIONS}


UNANSWERED = [(check, ...) for check in CHECKERS] + [
    (check, _stub) for check in CHECKERS if check not in VALUE_CHECKERS
]


@pytest.mark.parametrize("check, answer", UNANSWERED,
                         ids=[f"{c.__name__}-{'stub' if a is _stub else 'ellipsis'}" for c, a in UNANSWERED])
def test_an_unanswered_exercise_is_not_done_yet(check, answer, capsys):
    verdict = check(answer)
    assert verdict.status == "not done" and not verdict
    assert capsys.readouterr().out.startswith("… not done yet")


# --- wrong answers: (checker, answer, a piece of the expected sentence) -----------------------


def _at(image, kernel, row, col, size=3):
    return (image[0, :, row : row + size, col : col + size] * kernel[0]).sum()


def _size(formula):
    return lambda size, kernel_size, stride=1, padding=0, dilation=1: formula(
        size, dilation * (kernel_size - 1) + 1, stride, padding, kernel_size)


class NoShortcut(nn.Module):
    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        self.f = nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1), nn.BatchNorm2d(c_out), nn.ReLU(),
                               nn.Conv2d(c_out, c_out, 3, 1, 1), nn.BatchNorm2d(c_out))

    def forward(self, x):
        return torch.relu(self.f(x))


class IgnoresF(NoShortcut):
    def forward(self, x):
        return torch.relu(x) if self.f[0].stride == (1, 1) else torch.relu(self.f(x))


class NoFinalReLU(NoShortcut):
    def __init__(self, c_in, c_out, stride=1):
        super().__init__(c_in, c_out, stride)
        self.shortcut = nn.Identity() if (c_in, stride) == (c_out, 1) else nn.Conv2d(c_in, c_out, 1, stride)

    def forward(self, x):
        return self.f(x) + self.shortcut(x)


class NoProjection(NoShortcut):
    def forward(self, x):
        return torch.relu(self.f(x) + x)


class AlwaysProjected(NoShortcut):
    def __init__(self, c_in, c_out, stride=1):
        super().__init__(c_in, c_out, stride)
        self.shortcut = nn.Conv2d(c_in, c_out, 1, stride)

    def forward(self, x):
        return torch.relu(self.f(x) + self.shortcut(x))


def _first_cnn(**replace):
    model = FirstCNN()
    for name, layer in replace.items():
        getattr(model, name)[2] = layer
    return model


def _valid_phase(eval_mode=True, per_batch=False, deepcopy=True, always_keep=False, no_grad=True):
    """The notes' valid phase and best-epoch bookkeeping, or one of its usual slips."""
    def valid_phase(model, dataloader, criterion, best_acc, best_model_wts):
        if eval_mode:
            model.eval()
        running_loss, running_corrects, batch_losses = 0.0, 0, []
        with torch.no_grad() if no_grad else contextlib.nullcontext():
            for inputs, labels in dataloader:
                outputs = model(inputs)
                loss = criterion(outputs, labels)
                running_loss += loss.item() * inputs.size(0)
                batch_losses.append(loss.item())
                running_corrects += (outputs.argmax(1) == labels).sum().item()
        epoch_loss = running_loss / len(dataloader.dataset)
        if per_batch:
            epoch_loss = sum(batch_losses) / len(batch_losses)
        epoch_acc = running_corrects / len(dataloader.dataset)
        if epoch_acc > best_acc or always_keep:
            best_acc = epoch_acc
            best_model_wts = copy.deepcopy(model.state_dict()) if deepcopy else model.state_dict()
        return epoch_loss, epoch_acc, best_acc, best_model_wts
    return valid_phase


def test_the_notes_valid_phase_is_right(capsys):
    assert check_valid_phase(_valid_phase()).status == "right"
    assert capsys.readouterr().out.startswith("✓ right")


def _freeze_first_only(model, feature_extract):
    if feature_extract:
        next(model.parameters()).requires_grad = False


def _freeze_always(model, feature_extract):
    model.requires_grad_(False)


def _attribute_only(model, feature_extract):
    if feature_extract:
        model.requires_grad = False


def _field_without_jump(layers):
    return 1 + sum(layer.effective_kernel_size - 1 for layer in layers)


def _field_stride_first(layers):
    r, j = 1, 1
    for layer in layers:
        j *= layer.stride
        r += (layer.effective_kernel_size - 1) * j
    return r


def _field_without_pooling(layers):
    r, j = 1, 1
    for layer in layers:
        if layer.kind == "conv":
            r += (layer.effective_kernel_size - 1) * j
            j *= layer.stride
    return r


def _field_without_dilation(layers):
    r, j = 1, 1
    for layer in layers:
        r += (layer.kernel_size - 1) * j
        j *= layer.stride
    return r


def _smoothed(on_right, elsewhere, reduce=torch.mean, dim=1):
    """Label-smoothed cross-entropy with the given target weights (``eps, k`` → weight)."""
    def loss(logits, targets, eps):
        k = logits.shape[1]
        one_hot = F.one_hot(targets, k).float()
        target = one_hot * on_right(eps, k) + (1 - one_hot) * elsewhere(eps, k)
        return reduce(-(target * logits.log_softmax(dim=dim)).sum(dim=1))
    return loss


_SMOOTHED = _smoothed(lambda eps, k: 1 - eps + eps / k, lambda eps, k: eps / k)


def _bin_gaps(logits, labels, n_bins):
    """Each bin's share of the predictions and its accuracy − confidence (0 for an empty bin)."""
    bins = reliability(logits, labels, n_bins=n_bins)
    share = torch.tensor(bins.counts, dtype=torch.float64) / len(labels)
    gap = (torch.tensor(bins.accuracy, dtype=torch.float64) - torch.tensor(bins.confidence, dtype=torch.float64))
    return share, gap.nan_to_num()


def _ece_unweighted(logits, labels, n_bins):
    share, gap = _bin_gaps(logits, labels, n_bins)
    return float(gap[share > 0].abs().mean())


def _ece_signed(logits, labels, n_bins):
    share, gap = _bin_gaps(logits, labels, n_bins)
    return float((share * gap).sum())


def _adamw(decay="decoupled", bias_correction=True, keep_state=True):
    """One AdamW step by hand, or one of its typical mistakes."""
    def step(w, grad, m, v, t, lr, weight_decay, betas=(0.9, 0.999), eps=1e-8):
        (b1, b2), m0, v0 = betas, m, v
        if decay == "l2":
            grad = grad + weight_decay * w
        m, v = b1 * m + (1 - b1) * grad, b2 * v + (1 - b2) * grad**2
        m_hat, v_hat = (m / (1 - b1**t), v / (1 - b2**t)) if bias_correction else (m, v)
        shrink = {"decoupled": lr * weight_decay, "lambda": weight_decay}.get(decay, 0.0)
        update = lr * m_hat / (v_hat.sqrt() + eps)
        w = (w - update) * (1 - lr * weight_decay) if decay == "after" else w * (1 - shrink) - update
        return (w, m, v) if keep_state else (w, m0, v0)
    return step


negative = torch.ones(5, 5) / 20
negative[0, 0] = -0.25
shift = torch.zeros(5, 5)
shift[0, 0] = 1.0

WRONG = [
    # 00: one output by hand; the online check's timeout
    (check_output_at, lambda im, k, r, c: (im[0, :, r : r + 3, c : c + 3] * k[0]).sum(dim=(1, 2)), "not one number"),
    (check_output_at, lambda im, k, r, c: _at(im, k, c, r, k.shape[-1]), "rows come first"),
    (check_output_at, lambda im, k, r, c: _at(im, k, r, c), "instead of assuming 3×3"),
    (check_output_at, lambda im, k, r, c: _at(im, k, r, c, k.shape[-1]) + 1, "but F.conv2d gives"),
    (check_output_at, lambda im, k, r, c: None, "returned None"),
    (check_output_at, lambda im, k: 0, "raised TypeError"),
    (check_offline_wait, 60.0, "DOWNLOAD_STALL_SECONDS"),
    (check_offline_wait, 5, "is not it"),
    (check_offline_wait, "2", "give a number"),
    # 01: the output-size formula, exact strides, a blur kernel
    (check_output_size, _size(lambda h, fh, s, p, k: (h - fh + 2 * p) // s), "the formula ends with + 1"),
    (check_output_size, _size(lambda h, fh, s, p, k: (h - fh + 2 * p) // s + 2), "only one + 1"),
    (check_output_size, _size(lambda h, fh, s, p, k: (h - fh + p) // s + 1), "2P, not P"),
    (check_output_size, _size(lambda h, fh, s, p, k: -(-(h - fh + 2 * p) // s) + 1), "you round up"),
    (check_output_size, _size(lambda h, fh, s, p, k: (h - fh + 2 * p) / s + 1), "use // (integer division)"),
    (check_output_size, _size(lambda h, fh, s, p, k: (h - k + 2 * p) // s + 1), "you ignore dilation"),
    (check_output_size, _size(lambda h, fh, s, p, k: h - fh + 2 * p + 1), "you ignore the stride"),
    (check_output_size, _size(lambda h, fh, s, p, k: float((h - fh + 2 * p) // s + 1)), "are floats"),
    (check_output_size, _size(lambda h, fh, s, p, k: (h - fh + 2 * p) // s + 1 + (h == 9)), "but PyTorch gives"),
    (check_exact_strides, [1, 2], "with stride 2"),
    (check_exact_strides, [], "stride 1 is missing"),
    (check_exact_strides, [1, 5], "strides 1 to 4"),
    (check_exact_strides, 1, "give the strides as a list"),
    (check_blur_kernel, torch.ones(5, 5), "sums to 25"),
    (check_blur_kernel, torch.ones(3, 3) / 9, "shape (3, 3)"),
    (check_blur_kernel, negative, "no weight may be negative"),
    (check_blur_kernel, shift, "does not blur"),
    (check_blur_kernel, [[1.0]], "make the kernel a tensor"),
    # 02: an overlapping pool's shape, average pooling without loops, max pooling's gradient
    (check_overlap_shape, (6, 14, 14), "it does not round up"),
    (check_overlap_shape, (13, 13), "give all three numbers"),
    (check_overlap_shape, (13, 13, 6), "channels first"),
    (check_overlap_shape, (1, 6, 13, 13), "batch dimension"),
    (check_overlap_shape, (6, 13.5, 13.5), "PyTorch floors it"),
    (check_overlap_shape, (3, 13, 13), "the 6 maps stay 6"),
    (check_overlap_shape, (6, 12, 12), "use the formula"),
    (check_avg_pool_2x2, lambda x: F.max_pool2d(x, 2), "max pooling's values"),
    (check_avg_pool_2x2, lambda x: F.avg_pool2d(x, 2, ceil_mode=True), "an odd side is floored"),
    (check_avg_pool_2x2, lambda x: F.avg_pool2d(x.mean(dim=1, keepdim=True), 2), "N and C stay"),
    (check_avg_pool_2x2, lambda x: F.avg_pool2d(x.transpose(-1, -2), 2).transpose(-1, -2) * 0.5, "order of your reshape"),
    (check_avg_pool_2x2, lambda x: x.reshape(x.shape[0], x.shape[1], x.shape[2] // 2, 2, -1, 2).mean(dim=(3, 5)), "raised RuntimeError"),
    (check_max_pool_gradient, 16, "that is every input"),
    (check_max_pool_gradient, 1, "not what autograd gives"),
    (check_max_pool_gradient, 4.0, "whole number"),
    # 03: a convolution's parameters; the notes' network twice as wide
    (check_conv_parameters, lambda i, o, k, bias=True: k * k * i * o, "you forgot the biases"),
    (check_conv_parameters, lambda i, o, k, bias=True: k * k * i * o + o, "with bias=False"),
    (check_conv_parameters, lambda i, o, k, bias=True: k * k * o + o * bias, "multiply by C_in"),
    (check_conv_parameters, lambda i, o, k, bias=True: k * i * o + o * bias, "not k."),
    (check_conv_parameters, lambda i, o, k, bias=True: k * k * i * o + i * bias, "C_out biases, not C_in"),
    (check_conv_parameters, lambda i, o, k, bias=True: k * k * i * o + o * bias + 1, "nn.Conv2d has"),
    (check_conv_parameters, lambda i, o, k, bias=True: k * k * i * o / 1, "a whole number"),
    (check_doubled_widths, [864, 9216, 18432, 36864, 73728, 147456], "you forgot the biases"),
    (check_doubled_widths, [896, 9248], "has 2 numbers"),
    (check_doubled_widths, [896, 9248, 18496, 36928, 73856, 147584 + 1], "convolution 6 is wrong"),
    # 04: the receptive-field recurrence; how many 3×3 layers for a field
    (check_field_of, _field_without_jump, "multiply (k − 1) by the jump"),
    (check_field_of, _field_stride_first, "update r before j"),
    (check_field_of, _field_without_pooling, "a pooling window"),
    (check_field_of, _field_without_dilation, "a dilated kernel spans"),
    (check_field_of, lambda layers: receptive_field(layers) + 1, "apply r ← r + (k − 1)·j"),
    (check_layers_for_field, lambda t: (t - 1) // 2 + 1, "one layer too many"),
    (check_layers_for_field, lambda t: (t - 1) // 2, "is too few"),
    (check_layers_for_field, lambda t: (t - 1) / 2, "a whole number"),
    (check_layers_for_field, lambda t: t, "is too many"),
    # 01-04, predictions: the usual slips before each reveal
    (check_one_map_shape, (28, 28, 3), "one kernel makes one map, not 3"),
    (check_one_map_shape, (32, 32, 1), "count the positions where it fits whole"),
    (check_one_map_shape, (27, 27, 1), "add 1, for the first one"),
    (check_one_map_shape, (1, 28, 28), "PyTorch's order (C, H, W)"),
    (check_one_map_shape, (28, 28), "as 3 numbers in a tuple"),
    (check_one_map_shape, (30, 30, 1), "count the positions where the window fits whole"),
    (check_strided_side, 3.5, "a window is placed whole or not at all"),
    (check_strided_side, 4, "does not simply divide the side by 2"),
    (check_strided_side, 2, "the formula ends with + 1"),
    (check_strided_side, 6, "that is stride 1"),
    (check_strided_side, "3", "answer with a number"),
    (check_pointwise_parameters, 64, "a 1×1 kernel is not one number"),
    (check_pointwise_parameters, 32, "as deep as its input: 64 weights each"),
    (check_pointwise_parameters, 2048, "you forgot the biases"),
    (check_pointwise_parameters, 2112, "C_out biases, not C_in"),
    (check_pointwise_parameters, 1000, "holds for F = 1 too"),
    (check_pooling_parameters, (4, 150), "a pooling window is not a kernel"),
    (check_pooling_parameters, (0, 144), "you forgot the biases"),
    (check_pooling_parameters, (0, 30), "multiply by C_out too"),
    (check_pooling_parameters, (0, 151), "with F = 2"),
    (check_pooling_parameters, 150, "give two numbers"),
    (check_pooled_side, 3.5, "there is no half window"),
    (check_pooled_side, 4, "PyTorch rounds down"),
    (check_pooled_side, 2, "add 1, for the first"),
    (check_pooled_side, 6, "that is stride 1"),
    (check_pooling_savings, (2, 1), "a map has two sides"),
    (check_pooling_savings, (4, 4), "do not depend on its input's size"),
    (check_pooling_savings, (3, 1), "compare the numbers of output positions"),
    (check_pooling_savings, (4,), "give two numbers"),
    (check_parameters_at_224, 37240, "do not grow with the image"),
    (check_parameters_at_224, 750, "you forgot the biases"),
    (check_parameters_at_224, 1000, "has no H or W in it"),
    (check_alexnet_side, 54.25, "is not a whole number"),
    (check_alexnet_side, 55, "the paper's figure"),
    (check_alexnet_side, 56, "does not simply divide the side by 4"),
    (check_alexnet_side, 53, "the formula ends with + 1"),
    (check_alexnet_side, 214, "that is stride 1"),
    (check_notes_layers, 17, "holds 17 modules"),
    (check_notes_layers, 10, "pooling has no parameters"),
    (check_notes_layers, 13, "ReLU has no parameters"),
    (check_notes_layers, 6, "the fully connected layer"),
    (check_notes_layers, 8, "which of CONV, RELU, POOL, FC"),
    (check_stacked_field, 9, "each layer adds only k − 1 = 2"),
    (check_stacked_field, 27, "fields do not multiply"),
    (check_stacked_field, 3, "that is one layer's field"),
    (check_stacked_field, 5, "that is 2 layers"),
    (check_stack_weights, 9, "that is one layer"),
    (check_stack_weights, 49, "the single 7×7 layer"),
    (check_stack_weights, 729, "they do not multiply"),
    (check_stack_weights, 30, "add the layers"),
    # 05: a residual block; pooling replaced by strided convolutions
    (check_residual_block, NoShortcut, "add the input back"),
    (check_residual_block, IgnoresF, "F(x) is not added"),
    (check_residual_block, NoFinalReLU, "ReLU after the addition"),
    (check_residual_block, NoProjection, "give the shortcut a 1×1 convolution"),
    (check_residual_block, AlwaysProjected, "the shortcut must be the identity, not a 1×1"),
    (check_residual_block, lambda c_in, c_out, stride=1: nn.Conv2d(c_in, c_out, 3, stride, 1), "two 3×3 convolutions"),
    (check_residual_block, lambda c_in, c_out, stride=1: "block", "must build an nn.Module"),
    (check_strided_first_cnn, FirstCNN(), "still a MaxPool2d"),
    (check_strided_first_cnn, _first_cnn(conv1=nn.Conv2d(16, 32, 2, 2), conv2=nn.Conv2d(32, 32, 2, 2)), "keeps the number of maps"),
    (check_strided_first_cnn, _first_cnn(conv1=nn.Conv2d(16, 16, 3, 2), conv2=nn.Conv2d(32, 32, 3, 2)), "gives 13×13"),
    (check_strided_first_cnn, _first_cnn(conv1=nn.Conv2d(16, 16, 2, 2), conv2=nn.Identity()), "found 1"),
    (check_strided_first_cnn, FirstCNN, "give the network itself"),
    (check_lrs_entries, 2, "LRs does not start empty"),
    (check_lrs_entries, 5, "not once per phase"),
    (check_lrs_entries, 7, "count the append"),
    (check_shortcut_parameters, 64 * 128, "BatchNorm has parameters too"),
    (check_shortcut_parameters, 64 * 128 + 3 * 128, "has no bias"),
    (check_shortcut_parameters, 64 * 128 + 4 * 128, "buffers, not parameters"),
    (check_shortcut_parameters, 9 * 64 * 128 + 2 * 128, "not 3×3"),
    (check_valid_phase, _valid_phase(eval_mode=False), "call model.eval() first"),
    (check_valid_phase, _valid_phase(per_batch=True), "the last batch is smaller"),
    (check_valid_phase, _valid_phase(deepcopy=False), "copy.deepcopy(model.state_dict())"),
    (check_valid_phase, _valid_phase(always_keep=True), "must leave best_acc and best_model_wts"),
    (check_valid_phase, _valid_phase(no_grad=False), "torch.no_grad()"),
    (check_valid_phase, lambda model, loader, criterion, best_acc, wts: (0.0, 0.0), "return four values"),
    # 06: the notes' head; freezing the backbone
    (check_notes_head, lambda f, c: nn.Sequential(nn.Linear(f, c), nn.Softmax(dim=1)), "use LogSoftmax instead of Softmax"),
    (check_notes_head, lambda f, c: nn.Sequential(nn.Linear(f, c), nn.LogSoftmax(dim=0)), "over the batch (dim=0)"),
    (check_notes_head, lambda f, c: nn.Linear(f, c), "raw scores"),
    (check_notes_head, lambda f, c: nn.Sequential(nn.Linear(f, c, bias=False), nn.LogSoftmax(dim=1)), "has no bias"),
    (check_notes_head, lambda f, c: nn.Sequential(nn.Linear(f, f), nn.LogSoftmax(dim=1)), "should give scores of shape (4, 5)"),
    (check_notes_head, lambda f, c: nn.Sequential(nn.Linear(f, 8), nn.Linear(8, c), nn.LogSoftmax(dim=1)), "one Linear layer"),
    (check_notes_head, lambda f, c: torch.log_softmax, "must return an nn.Module"),
    (check_freeze, lambda model, feature_extract: None, "still train"),
    (check_freeze, _freeze_first_only, "5 of 6 parameter tensors still train"),
    (check_freeze, _attribute_only, "only sets an attribute"),
    (check_freeze, _freeze_always, "nothing may be frozen"),
    (check_stage1_parameters, 2048 * 102, "keeps its biases"),
    (check_stage1_parameters, 2048 * 1000 + 1000, "ImageNet's old head"),
    (check_stage1_parameters, 2048 * 102 + 2048, "per class, not per input feature"),
    (check_stage1_parameters, 58_352_806, "froze every pretrained weight"),
    (check_stage1_parameters, 102, "created after set_parameter_requires_grad"),
    (check_backbone_passes, (3, 3), "that is their point"),
    (check_backbone_passes, (1, 1), "not the arithmetic"),
    (check_backbone_passes, (3, 0), "one backbone pass"),
    (check_backbone_passes, (6, 1), "once per epoch"),
    (check_backbone_passes, 3, "give (backbone passes"),
    # 07: label smoothing; the expected calibration error; one AdamW step
    (check_smoothed_cross_entropy, _smoothed(lambda e, k: 1 - e, lambda e, k: e / (k - 1)), "over the K − 1 wrong classes"),
    (check_smoothed_cross_entropy, _smoothed(lambda e, k: 1 - e, lambda e, k: 0.0), "it must still sum to 1"),
    (check_smoothed_cross_entropy, _smoothed(lambda e, k: 1 - e + e / k, lambda e, k: e / k, torch.sum), "you sum the losses"),
    (check_smoothed_cross_entropy, _smoothed(lambda e, k: 1 - e + e / k, lambda e, k: e / k, lambda x: x), "one loss per image"),
    (check_smoothed_cross_entropy, lambda z, y, eps: F.cross_entropy(z, y), "does not use ε"),
    (check_smoothed_cross_entropy, _smoothed(lambda e, k: 1 - e + e / k, lambda e, k: e / k, dim=0), "over the batch (dim=0)"),
    (check_smoothed_cross_entropy, lambda z, y, eps: _SMOOTHED(z, y, eps) + 0.1, "then the mean"),
    (check_smoothed_cross_entropy, lambda z, y, eps: "loss", "return a number"),
    (check_calibration_error, _ece_unweighted, "weight each by its share"),
    (check_calibration_error, lambda z, y, n: expected_calibration_error(z, y, n_bins=1), "over all predictions at once"),
    (check_calibration_error, _ece_signed, "over- and under-confident bins cancel"),
    (check_calibration_error, lambda z, y, n: expected_calibration_error(z, y, n_bins=10), "use the n_bins you are given"),
    (check_calibration_error, lambda z, y, n: _bin_gaps(z, y, n)[1], "returned 10 numbers"),
    (check_calibration_error, lambda z, y, n: expected_calibration_error(z, y, n_bins=n) + 0.01, "the largest softmax probability"),
    (check_calibration_error, lambda z, y: 0.0, "raised TypeError"),
    (check_adamw_step, _adamw(decay="l2"), "Adam's L2 term"),
    (check_adamw_step, _adamw(decay="none"), "do not decay"),
    (check_adamw_step, _adamw(decay="lambda"), "scaled by the rate"),
    (check_adamw_step, _adamw(bias_correction=False), "without bias correction"),
    (check_adamw_step, _adamw(decay="after"), "after Adam's step"),
    (check_adamw_step, _adamw(keep_state=False), "return the updated m and v"),
    (check_adamw_step, lambda w, g, m, v, t, lr, wd: _adamw()(w, g, m, v, t, lr, wd)[0], "must return the three tensors"),
    (check_adamw_step, lambda w, g, m, v, t, lr, wd: _adamw()(w, -g, m, v, t, lr, wd), "after step 1"),
    # 07's predictions: StepLR's rate in epoch 8 of 10 (a tenth every 4 epochs); the smoothed target
    (check_step_factor, 10 ** (8 // 4), "counts the step at the end of epoch 8"),
    (check_step_factor, 1, "no longer the peak"),
    (check_step_factor, 10 ** (8 - 1), "after every epoch"),
    (check_step_factor, 0.1 ** ((8 - 1) // 4), "the rate as a fraction of the peak"),
    (check_step_factor, 1000, "count the steps"),
    (check_step_factor, "10", "answer with a number"),
    (check_smoothed_confidence, 1.0, "plain cross-entropy"),
    (check_smoothed_confidence, 1 - 0.1, "the right one included"),
    (check_smoothed_confidence, 0.1 / 102, "what each wrong class gets"),
    (check_smoothed_confidence, 0.95, "work out the target"),
]


@pytest.mark.parametrize("check, answer, expected", WRONG,
                         ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(WRONG)])
def test_each_typical_wrong_answer_gets_its_sentence(check, answer, expected, capsys):
    verdict = check(answer)
    printed = capsys.readouterr().out
    assert isinstance(verdict, Verdict) and verdict.status == "wrong" and not verdict
    assert expected in verdict.message, verdict.message
    assert printed == f"✗ {verdict.message}\n"
    assert "\n" not in verdict.message and len(verdict.message) < 260


# The notebooks' reference answers to the predictions, written as in the notebooks.
REFERENCE_PREDICTIONS = [
    (check_one_map_shape, (32 - 5 + 1, 32 - 5 + 1, 1)),
    (check_strided_side, (8 - 3) // 2 + 1),
    (check_pointwise_parameters, 1 * 1 * 64 * 32 + 32),
    (check_pooling_parameters, (0, 2 * 2 * 6 * 6 + 6)),
    (check_pooled_side, (7 - 2) // 2 + 1),
    (check_pooling_savings, ((28 * 28) / (14 * 14), 1)),
    (check_parameters_at_224, 5 * 5 * 3 * 10 + 10),
    (check_alexnet_side, (224 - 11) // 4 + 1),
    (check_notes_layers, 3 * 2 + 1),
    (check_stacked_field, 1 + 3 * (3 - 1)),
    (check_stack_weights, 3 * 3 * 3),
    (check_step_factor, 10 ** ((8 - 1) // 4)),
    (check_smoothed_confidence, 1 - 0.1 + 0.1 / 102),
    (check_lrs_entries, 2 + 1),
    (check_shortcut_parameters, 1 * 1 * 64 * 128 + 2 * 128),
    (check_stage1_parameters, 2048 * 102 + 102),
    (check_backbone_passes, (3, 1)),
]


def test_every_prediction_has_a_reference_answer():
    assert [check for check, _ in REFERENCE_PREDICTIONS] == PREDICTIONS


@pytest.mark.parametrize("check, answer", REFERENCE_PREDICTIONS, ids=lambda v: getattr(v, "__name__", ""))
def test_the_reference_predictions_are_right(check, answer, capsys):
    verdict = check(answer)
    assert verdict.status == "right", verdict.message
    assert capsys.readouterr().out == f"✓ right: {verdict.message}\n"


def test_a_prediction_compares_whole_numbers_and_tuples():
    assert compare_prediction(3.0, 3, what="the side", because="it fits.")  # 3.0 is the number 3
    assert compare_prediction([28, 28, 1], (28, 28, 1), what="the shape", because="one map.")
    with pytest.raises(Mistake, match="not a whole number"):
        compare_prediction(2.5, 3, what="the side", because="")
    with pytest.raises(Mistake, match="answer with a number"):
        compare_prediction(True, 1, what="the side", because="")
    with pytest.raises(Mistake, match="slip"):  # a slip is named before the generic message
        compare_prediction(4, 3, what="the side", because="", slips=[(4, "slip")])
    with pytest.raises(Mistake, match="^5 is not the side: think$"):
        compare_prediction(5, 3, what="the side", because="", slips=[(3, "never: it is the answer")],
                           hint="think")


def test_a_prediction_with_a_tolerance_takes_a_rounded_decimal():
    assert compare_prediction(0.901, 0.90098, what="p", because="", tolerance=5e-4)  # three decimals suffice
    with pytest.raises(Mistake, match="^0.899 is not p"):  # no "whole number" complaint for decimals
        compare_prediction(0.899, 0.90098, what="p", because="", tolerance=5e-4)
    with pytest.raises(Mistake, match="slip"):  # slips are matched within the tolerance too
        compare_prediction(0.9, 0.90098, what="p", because="", slips=[(0.9, "slip")], tolerance=5e-4)
    # a slip closer to the answer than the tolerance cannot be told from it, and is skipped
    assert compare_prediction(0.90099, 0.90098, what="p", because="", slips=[(0.9006, "never")], tolerance=5e-4)
    with pytest.raises(Mistake, match="not a whole number"):  # without a tolerance, whole numbers as before
        compare_prediction(0.901, 1, what="p", because="")


@pytest.mark.parametrize("answer, status", [(..., "not done"), (4, "wrong"), (3, "right")])
def test_under_nbgrader_a_check_that_is_not_right_raises_after_printing(answer, status, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_GRADING", "1")
    if status == "right":
        assert check_strided_side(answer)
    else:
        with pytest.raises(NotRight, match="check_strided_side"):
            check_strided_side(answer)
    assert capsys.readouterr().out.count("\n") == 1  # the learner's line, printed as always
    monkeypatch.setenv("COURSE_GRADING", "0")
    assert check_strided_side(answer).status == status  # outside grading: never raises


def test_a_verdict_prints_once_and_reads_as_a_bool(capsys):
    verdict = check_offline_wait(5)
    assert not verdict and str(verdict).startswith("✗ ")
    assert capsys.readouterr().out.count("\n") == 1
    assert verdict._ipython_display_() is None  # a notebook shows the printed line only


def test_a_check_leaves_the_notebooks_random_numbers_alone():
    model = FirstCNN()
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    check_residual_block(NoShortcut)
    check_strided_first_cnn(model)
    assert torch.equal(torch.rand(3), expected)



def test_every_checker_of_the_package_is_tested_here():
    import importlib
    import pkgutil

    import course_utils.exercises as package

    found = set()
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        found |= {getattr(module, name) for name in module.__all__ if name.startswith("check_")}
    assert found == set(CHECKERS) | set(CHECKERS_08)
    assert {check for check, _, _ in WRONG + WRONG_08} == found  # each has at least one wrong answer


# --- 08: per-class accuracy, the most confused pair, Grad-CAM by hand --------------------------
# (the notebook's reference solutions, the usual slips, and a stub; in the order of notebook 08)

from course_utils.exercises.inspection import (  # noqa: E402
    check_class_accuracy,
    check_grad_cam_by_hand,
    check_most_confused_pair,
)

CHECKERS_08 = [check_class_accuracy, check_most_confused_pair, check_grad_cam_by_hand]


def _class_accuracy(matrix):
    return matrix.diagonal() / matrix.sum(dim=1)


def _most_confused_pair(matrix):
    mistakes = matrix - torch.diag(matrix.diagonal())
    return divmod(int((mistakes + mistakes.T).argmax()), matrix.shape[0])


def _grad_cam(score="score", weights="gradient", relu=True, explain_target=True, remove_hook=True,
              scale=False, upsample=False, add_maps=True, input_grad=True):
    """The notebook's solution of exercise 3, or one of its usual slips."""

    def grad_cam_by_hand(model, layer, image, target):
        kept = []
        handle = layer.register_forward_hook(lambda module, inputs, output: kept.append(output))
        scores = model(image[None].requires_grad_(input_grad))
        if remove_hook:
            handle.remove()
        target = target if explain_target else int(scores.argmax())
        explained = {"score": scores[0, target], "probability": scores.softmax(dim=1)[0, target],
                     "log-probability": scores.log_softmax(dim=1)[0, target],
                     "loss": F.cross_entropy(scores, torch.tensor([target]))}[score]
        activations = kept[0][0]
        (gradients,) = torch.autograd.grad(explained, kept[0])
        gradients = gradients[0]
        alpha = {"gradient": gradients.mean(dim=(1, 2)), "summed": gradients.sum(dim=(1, 2)),
                 "activation": activations.mean(dim=(1, 2))}.get(weights)
        maps = gradients * activations if alpha is None else alpha[:, None, None] * activations
        cam = maps.sum(dim=0) if add_maps else maps
        cam = (torch.relu(cam) if relu else cam).detach()
        if scale:
            cam = cam / cam.max()
        if upsample:
            cam = F.interpolate(cam[None, None], size=image.shape[-2:], mode="bilinear")[0, 0]
        return cam

    return grad_cam_by_hand


@pytest.mark.parametrize("check, answer", [(check_class_accuracy, _class_accuracy),
                                           (check_most_confused_pair, _most_confused_pair),
                                           (check_grad_cam_by_hand, _grad_cam())],
                         ids=lambda value: getattr(value, "__name__", ""))
def test_08_the_reference_solutions_are_right(check, answer, capsys):
    verdict = check(answer)
    assert verdict.status == "right", verdict.message
    assert capsys.readouterr().out == f"✓ right: {verdict.message}\n"


@pytest.mark.parametrize("check", CHECKERS_08, ids=lambda c: c.__name__)
@pytest.mark.parametrize("answer", [..., _stub], ids=["ellipsis", "stub"])
def test_08_an_unanswered_exercise_is_not_done_yet(check, answer, capsys):
    verdict = check(answer)
    assert verdict.status == "not done" and not verdict
    assert capsys.readouterr().out.startswith("… not done yet")


def _top_left(matrix):
    return divmod(int(matrix.argmax()), matrix.shape[0])


WRONG_08 = [
    (check_class_accuracy, lambda m: m.diagonal() / m.sum(dim=0), "which is precision"),
    (check_class_accuracy, lambda m: m.diagonal() / m.sum(), "divided by all the photos"),
    (check_class_accuracy, lambda m: 100 * m.diagonal() / m.sum(dim=1), "these are percents"),
    (check_class_accuracy, lambda m: torch.floor_divide(m.diagonal().float(), m.sum(dim=1).float()), "use / instead of //"),
    (check_class_accuracy, lambda m: m.diagonal() / m.sum(dim=1).clamp_min(1), "has no photos"),
    (check_class_accuracy, lambda m: _class_accuracy(m)[m.sum(dim=1) > 0], "one per class, NaN"),
    (check_class_accuracy, lambda m: _class_accuracy(m)[None], "shape (6,)"),
    (check_class_accuracy, lambda m: m.diagonal() / (m.sum(dim=1) + 1), "class 1 gets"),
    (check_class_accuracy, lambda m: None, "return a tensor"),
    (check_most_confused_pair, lambda m: _top_left(m + m.T), "on the diagonal"),
    (check_most_confused_pair, lambda m: _top_left(m - torch.diag(m.diagonal())), "one direction only"),
    (check_most_confused_pair, lambda m: int((m + m.T - 2 * torch.diag(m.diagonal())).argmax()), "divmod(index, 6)"),
    (check_most_confused_pair, lambda m: ("snapdragon", "sweet william"), "not their names"),
    (check_most_confused_pair, lambda m: (0, 5), "taken for each other 0 times in all"),
    (check_most_confused_pair, lambda m: (6, 7), "from 0 to 5"),
    (check_most_confused_pair, lambda m: [2], "give two class indices"),
    (check_grad_cam_by_hand, _grad_cam(relu=False), "end with a ReLU"),
    (check_grad_cam_by_hand, _grad_cam(input_grad=False), "the model is frozen"),
    (check_grad_cam_by_hand, _grad_cam(weights="activation"), "mean activation"),
    (check_grad_cam_by_hand, _grad_cam(score="probability"), "softmax probability"),
    (check_grad_cam_by_hand, _grad_cam(score="log-probability"), "gradient of the log-probability"),
    (check_grad_cam_by_hand, _grad_cam(score="loss"), "gradient of the loss"),
    (check_grad_cam_by_hand, _grad_cam(weights=None), "cell by cell"),
    (check_grad_cam_by_hand, _grad_cam(weights="summed"), "average it (divide by h·w)"),
    (check_grad_cam_by_hand, _grad_cam(explain_target=False), "you explained the predicted class"),
    (check_grad_cam_by_hand, _grad_cam(remove_hook=False), "handle.remove()"),
    (check_grad_cam_by_hand, _grad_cam(scale=True), "divided by its maximum"),
    (check_grad_cam_by_hand, _grad_cam(upsample=True), "before upsampling"),
    (check_grad_cam_by_hand, _grad_cam(add_maps=False), "add up the weighted feature maps"),
    (check_grad_cam_by_hand, lambda model, layer, image, target: image.mean(dim=0)[:8, :8], "differs from Grad-CAM"),
    (check_grad_cam_by_hand, lambda model, layer, image, target: model(image), "raised RuntimeError"),
    (check_grad_cam_by_hand, lambda model, layer, image, target: None, "return the map as a tensor"),
]


@pytest.mark.parametrize("check, answer, expected", WRONG_08,
                         ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(WRONG_08)])
def test_08_each_typical_wrong_answer_gets_its_sentence(check, answer, expected, capsys):
    test_each_typical_wrong_answer_gets_its_sentence(check, answer, expected, capsys)


def test_08_a_hook_left_behind_does_not_spoil_the_next_check(capsys):
    check_grad_cam_by_hand(_grad_cam(remove_hook=False))
    assert check_grad_cam_by_hand(_grad_cam())  # a new small CNN each time: the stray hook is gone


def test_08_the_grad_cam_check_seeds_its_own_cnn_without_touching_the_notebooks_random_numbers(capsys):
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    check_grad_cam_by_hand(_grad_cam())
    assert torch.equal(torch.rand(3), expected)
