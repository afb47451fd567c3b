"""The learner's language at run time (course_utils/i18n.py): the checkers of 00-04 and the explorers'
labels speak English by default and Chinese after ``set_language("zh_CN")``, in the glossary's terms.

Each message of a checker is one case below: the answer that triggers it, words of its English
sentence and words of its Chinese one; a test checks that every ``_()`` of those modules is said,
in both languages, by some case."""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path

import polib
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.analysis.calibration import expected_calibration_error, reliability
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
from course_utils.exercises.verdict import attempt, checker, right
from course_utils.i18n import LANGUAGES, LOCALE_DIR, gettext, language, set_language, use_language
from course_utils.i18n import gettext as _
from course_utils.lessons.architectures import FirstCNN
from course_utils.lessons.explorers import conv_explorer, pooling_explorer, receptive_field_explorer
from course_utils.lessons.receptive_field import receptive_field
from tools.i18n.glossary import read_glossary
from tools.i18n.layout import glossary_path

ROOT = Path(__file__).resolve().parent.parent
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(autouse=True)
def english_afterwards():
    yield
    set_language("en")


def test_english_is_the_default_and_other_codes_are_refused_with_the_choices():
    assert language() == "en" and set(LANGUAGES) == {"en", "zh_CN"}
    with pytest.raises(ValueError, match=r"the course speaks 'en', 'zh_CN'; got 'fr'"):
        set_language("fr")
    with pytest.raises(TypeError, match="a language code such as 'zh_CN'"):
        set_language(None)
    assert set_language("zh-CN") == "en" and language() == "zh_CN"


def test_use_language_goes_back_and_a_message_without_translation_stays_english():
    with use_language("zh_CN"):
        assert gettext("stride") == "步长"
        assert gettext("a sentence nobody translated") == "a sentence nobody translated"
    assert language() == "en" and gettext("stride") == "stride"


def _at(image, kernel, row, col, size=3):
    return (image[0, :, row : row + size, col : col + size] * kernel[0]).sum()


# (checker, answer, a piece of the English sentence, a piece of the Chinese one)
MESSAGES = [
    (check_output_at, lambda im, k, r, c: _at(im, k, r, c, k.shape[-1]),
     "your hand computation equals F.conv2d at every position tried", "你手算的结果都等于 F.conv2d"),
    (check_output_at, lambda im, k, r, c: _at(im, k, r, c), "fails for a 5×5 kernel", "遇到 5×5 的卷积核就出错了"),
    (check_output_at, lambda im, k, r, c: (im[0, :, r : r + 3, c : c + 3] * k[0, :, :3, :3]).sum(),
     "is wrong for a 5×5 kernel", "在 5×5 的卷积核上算错了"),
    (check_output_at, lambda im, k, r, c: None, "output_at(image, kernel, 0, 0) returned None", "output_at(image, kernel, 0, 0) 返回了 None"),
    (check_output_at, lambda im, k, r, c: (im[0, :, r : r + 3, c : c + 3] * k[0]).sum(dim=(1, 2)),
     "returned a tensor of shape (3,), not one number", "返回的是形状为 (3,) 的张量，而不是一个数"),
    (check_output_at, lambda im, k, r, c: _at(im, k, c, r, k.shape[-1]),
     "output_at(image, kernel, 2, 4) is PyTorch's output at row 4, column 2", "是 PyTorch 在第 4 行、第 2 列的输出"),
    (check_output_at, lambda im, k, r, c: _at(im, k, r, c, k.shape[-1]) + 1, "but F.conv2d gives", "而 F.conv2d 给出"),
    (check_offline_wait, 2.0, "is_online gives up after 2 seconds", "is_online 等 2 秒后就放弃"),
    (check_offline_wait, 60.0, "DOWNLOAD_STALL_SECONDS", "已经开始的下载最多可以停顿多久（DOWNLOAD_STALL_SECONDS）"),
    (check_offline_wait, 5, "5 seconds is not it", "不是 5 秒"),
    (check_offline_wait, "2", "give a number of seconds, not str", "而不是 str"),
]


CHECKER_MODULES = [f"course_utils/exercises/{name}.py" for name in (
    "verdict", "prediction", "start", "convolution", "pooling", "counting", "receptive_fields",
    "architectures", "transfer", "optimizers_losses")]
"""The modules whose every message a case below says (00-07's checkers and what they share)."""


# --- 01-04: every message of the checkers, and what they share (verdict, prediction) ------------

def _size(formula):
    """An ``output_size`` written with ``formula(size, span, stride, padding, kernel_size)``."""
    return lambda size, kernel_size, stride=1, padding=0, dilation=1: formula(
        size, dilation * (kernel_size - 1) + 1, stride, padding, kernel_size)


def _field(stride_first=False, pooling=True, dilation=True, jump=True):
    """The receptive-field recurrence, or one of its usual slips."""
    def field_of(layers):
        r, j = 1, 1
        for layer in layers:
            if layer.kind == "pool" and not pooling:
                continue
            k = layer.effective_kernel_size if dilation else layer.kernel_size
            if stride_first:
                j *= layer.stride
            r += (k - 1) * (j if jump else 1)
            if not stride_first:
                j *= layer.stride
        return r
    return field_of


@checker
def check_without_hint(answer):
    """A prediction without a hint (the course's checkers all give one): the plain "is not" sentence."""
    return compare_prediction(answer, 3, what=_("the output side"), because="")


@checker
def check_unnamed(function):
    """A learner's callable without a name, called without ``call=``: attempt names it "your function"."""
    return right(str(attempt(function)))


_NEGATIVE = torch.full((5, 5), 1 / 20).index_put_((torch.tensor([0]), torch.tensor([0])), torch.tensor(-0.25))
_SHIFT = torch.zeros(5, 5).index_put_((torch.tensor([0]), torch.tensor([0])), torch.tensor(1.0))
_CORRECT_SIZE = _size(lambda h, fh, s, p, k: (h - fh + 2 * p) // s + 1)

# (checker, answer, a piece of the English sentence, a piece of the Chinese one)
MESSAGES_01_04 = [
    # verdict.py: shared by every checker
    (check_output_size, ..., "not done yet: write your answer in the cell above", "还没有完成：在上面的格子里写下你的答案"),
    (check_output_at, "x", "expected a function, got str", "需要一个函数，得到的却是 str：在上面的格子里用 `def` 定义它"),
    (check_unnamed, functools.partial(int, "x"), "your function(...) raised ValueError", "你的函数(...) 抛出了 ValueError："),
    (check_output_at, lambda image, kernel: 0, "output_at(image, kernel, 0, 0) raised TypeError",
     "output_at(image, kernel, 0, 0) 抛出了 TypeError："),
    # prediction.py: shared by the predictions
    (check_one_map_shape, (28, 28), "give the shape h × w × c of one kernel's output as 3 numbers in a tuple",
     "请把一个卷积核的输出的形状（h × w × c）写成含 3 个数的元组，例如 (1, 2, 3)"),
    (check_strided_side, "3", "answer with a number for the output side; got str '3'", "输出的边长请用一个数来回答；得到的却是 str '3'"),
    (check_strided_side, 2.5, "2.5 is not a whole number, and the output side is counted in whole numbers",
     "2.5 不是整数，而输出的边长是用整数来数的"),
    (check_strided_side, 3, "the output side is 3: windows start at [0, 2, 4]", "输出的边长是 3：窗口从 [0, 2, 4] 开始"),
    (check_strided_side, 5, "5 is not the output side: list the columns", "5 不是输出的边长：列出每个窗口开始的列"),
    (check_without_hint, 5, "5 is not the output side.", "5 不是输出的边长。"),
    # convolution.py (01)
    (check_output_size, _size(lambda h, fh, s, p, k: (h - fh + 2 * p) // s), "your sizes are 1 too small everywhere",
     "你的尺寸处处都小了 1"),
    (check_output_size, _size(lambda h, fh, s, p, k: (h - fh + 2 * p) // s + 2), "your sizes are 1 too large everywhere",
     "你的尺寸处处都大了 1"),
    (check_output_size, _size(lambda h, fh, s, p, k: (h - fh + p) // s + 1), "the formula has 2P, not P", "所以公式里是 2P，不是 P"),
    (check_output_size, _size(lambda h, fh, s, p, k: -(-(h - fh + 2 * p) // s) + 1), "you round up where S does not divide",
     "的地方你向上取整了：PyTorch 向下取整"),
    (check_output_size, _size(lambda h, fh, s, p, k: (h - k + 2 * p) // s + 1), "you ignore dilation", "你忽略了膨胀"),
    (check_output_size, _size(lambda h, fh, s, p, k: h - fh + 2 * p + 1), "you ignore the stride", "你忽略了步长"),
    (check_output_size, lambda *args, **kwargs: None,
     "output_size(5, 1, stride=1, padding=0, dilation=1) returned None: end your function with `return` and the size",
     "output_size(5, 1, stride=1, padding=0, dilation=1) 返回了 None：函数的最后要用 `return` 把尺寸返回"),
    (check_output_size, lambda *args, **kwargs: "7", "returned str; a size is a whole number", "返回了 str；尺寸是一个整数"),
    (check_output_size, _size(lambda h, fh, s, p, k: (h - fh + 2 * p) / s + 1), "returned 2.33333: where S does not divide",
     "返回了 2.33333：在 S 不能整除 (H1 − FH + 2P) 的地方，PyTorch 会向下取整，所以要用 //（整数除法）代替 /"),
    (check_output_size, _size(lambda h, fh, s, p, k: float((h - fh + 2 * p) // s + 1)), "your sizes are right but are floats",
     "你的尺寸是对的，但它们是浮点数"),
    (check_output_size, _CORRECT_SIZE, "your formula gives PyTorch's output size in all 414 settings tried",
     "在试过的全部 414 种设置下，你的公式都给出了 PyTorch 的输出尺寸"),
    (check_output_size, _size(lambda h, fh, s, p, k: (h - fh + 2 * p) // s + 1 + (h == 9)),
     "gives 10 but PyTorch gives 9", "得到 10，而 PyTorch 得到 9"),
    (check_exact_strides, 1, "give the strides as a list, e.g. [1, 3]; got int", "请把步长写成一个列表，例如 [1, 3]；得到的却是 int"),
    (check_exact_strides, [1, 5], "the question is about strides 1 to 4; 5 is not one of them", "题目问的是 1 到 4 的步长；5 不在其中"),
    (check_exact_strides, [1, 2], "with stride 2, H2 = (H1 − FH + 2P) / S + 1", "步长为 2 时，H2 = (H1 − FH + 2P) / S + 1"),
    (check_exact_strides, [], "stride 1 is missing", "漏掉了步长 1"),
    (check_exact_strides, [1], "of the strides 1 to 4 only [1] divide H1 − FH + 2P = 223",
     "在 1 到 4 的步长中，只有 [1] 能整除 H1 − FH + 2P = 223"),
    (check_blur_kernel, [[1.0]], "make the kernel a tensor (torch.tensor or torch.ones...), not list", "卷积核要是一个张量"),
    (check_blur_kernel, torch.ones(3, 3) / 9, "your kernel has shape (3, 3): make it a 5×5 tensor",
     "你的卷积核形状是 (3, 3)：请把它做成 5×5 的张量"),
    (check_blur_kernel, _NEGATIVE, "no weight may be negative", "任何权重都不能是负数"),
    (check_blur_kernel, torch.ones(5, 5), "your kernel sums to 25, not 1, so it multiplies the brightness by 25",
     "你的卷积核之和是 25，而不是 1，所以它把亮度乘上了 25"),
    (check_blur_kernel, _SHIFT, "your kernel does not blur", "你的卷积核没有模糊效果"),
    (check_blur_kernel, torch.ones(5, 5) / 25, "a checkerboard's edges lose 96 % of their strength", "棋盘格的边缘强度减弱了 96 %"),
    (check_one_map_shape, (28, 28, 1), "28 positions per side, and one number per position", "每边 28 个位置，每个位置一个数"),
    (check_one_map_shape, (28, 28, 3), "adds up all 3 channels into one number per position: one kernel makes one map, not 3",
     "把全部 3 个通道加成一个数：一个卷积核得到一个特征图，而不是 3 个"),
    (check_one_map_shape, (32, 32, 1), "without padding a 5×5 window cannot be centred", "没有边缘填充时，5×5 的窗口不能以边界上的像素为中心"),
    (check_one_map_shape, (27, 27, 1), "add 1, for the first one", "再加 1，算上第一个位置"),
    (check_one_map_shape, (1, 28, 28), "that is PyTorch's order (C, H, W)", "那是 PyTorch 的顺序 (C, H, W)"),
    (check_one_map_shape, (30, 30, 1), "count the positions where the window fits whole along a side",
     "数一数沿一条边窗口能完整放下的位置"),
    (check_strided_side, 3.5, "there is no part of a window: (H1 − FH) / S + 1 = 3.5", "没有半个窗口：(H1 − FH) / S + 1 = 3.5"),
    (check_strided_side, 4, "window 4 would start at column 6 and need columns up to 8, but the input ends at column 7",
     "第 4 个窗口会从第 6 列开始，需要用到第 8 列，但输入到第 7 列就结束了"),
    (check_strided_side, 2, "the formula ends with + 1, for the first window", "公式的最后有一个 + 1，算的是第一个窗口"),
    (check_strided_side, 6, "with stride 2 the window moves 2 pixels at a time", "步长为 2 时窗口每次移动 2 个像素"),
    (check_pointwise_parameters, 2080, "the number of parameters is 2080: 32 kernels of 1×1×64 = 2048 weights, + 32 biases",
     "参数的个数是 2080：32 个 1×1×64 的卷积核 = 2048 个权重，再加 32 个偏置项"),
    (check_pointwise_parameters, 64, "each of the 32 kernels has 64 weights", "32 个卷积核中的每一个都有 64 个权重"),
    (check_pointwise_parameters, 32, "as deep as its input: 64 weights each", "和它的输入一样深：每个卷积核有 64 个权重"),
    (check_pointwise_parameters, 2048, "you forgot the biases: one per kernel, 32 of them", "你忘了偏置项：每个卷积核一个，共 32 个"),
    (check_pointwise_parameters, 2112, "C_out biases, not C_in", "C_out 个偏置项，而不是 C_in 个"),
    (check_pointwise_parameters, 1000, "1000 is not the number of parameters: F·F·C_in·C_out + C_out holds for F = 1 too",
     "1000 不是参数的个数：F·F·C_in·C_out + C_out 对 F = 1 也成立"),
    # pooling.py (02)
    (check_overlap_shape, 6, "give the shape as a tuple (C, H, W), not int", "请把形状写成元组 (C, H, W)，而不是 int"),
    (check_overlap_shape, (6, 13, 13), "28×28×6 → 13×13×6, the maps pooled one by one", "28×28×6 → 13×13×6，特征图逐个池化"),
    (check_overlap_shape, (1, 6, 13, 13), "leave out the batch dimension", "去掉批量这一维"),
    (check_overlap_shape, (13, 13), "pooling keeps the 6 maps, so C stays", "池化保留全部 6 个特征图，所以 C 不变"),
    (check_overlap_shape, (6, 13, 13, 1, 1), "your shape has 5", "你的形状有 5 个"),
    (check_overlap_shape, (13, 13, 6), "PyTorch puts the channels first", "PyTorch 把通道放在最前面"),
    (check_overlap_shape, (3, 13, 13), "so the 6 maps stay 6", "所以 6 个特征图还是 6 个"),
    (check_overlap_shape, (6, 13.5, 13.5), "= 13.5 is not a whole number, and PyTorch floors it", "= 13.5 不是整数，PyTorch 会向下取整"),
    (check_overlap_shape, (6, 14, 14), "PyTorch floors it to 13, it does not round up", "PyTorch 把它向下取整为 13，而不是向上取整"),
    (check_overlap_shape, (6, 12, 12), "with H1 = 28, F = 3, S = 2", "其中 H1 = 28，F = 3，S = 2"),
    (check_avg_pool_2x2, lambda x: x.tolist(), "avg_pool_2x2(x) for x of shape (2, 3, 8, 8) returned list, not a tensor",
     "对形状为 (2, 3, 8, 8) 的 x 调用 avg_pool_2x2(x) 返回了 list，而不是张量"),
    (check_avg_pool_2x2, lambda x: F.avg_pool2d(x.mean(dim=1, keepdim=True), 2), "so N and C stay (2, 3)",
     "所以 N 和 C 保持为 (2, 3)"),
    (check_avg_pool_2x2, lambda x: F.avg_pool2d(x, 2, ceil_mode=True), "has shape (1, 2, 4, 5), PyTorch (1, 2, 3, 4): an odd side is floored",
     "的形状是 (1, 2, 4, 5)，PyTorch 的是 (1, 2, 3, 4)：奇数边长要向下取整"),
    (check_avg_pool_2x2, lambda x: F.max_pool2d(x, 2), "gives max pooling's values", "得到的是最大值采样的值"),
    (check_avg_pool_2x2, lambda x: F.avg_pool2d(x.transpose(-1, -2), 2).transpose(-1, -2) * 0.5,
     "check the order of your reshape", "检查一下你的 reshape 的顺序"),
    (check_avg_pool_2x2, lambda x: F.avg_pool2d(x, 2), "your pooling equals F.avg_pool2d on even and odd sizes",
     "无论边长是偶数还是奇数，你的池化都等于 F.avg_pool2d"),
    (check_max_pool_gradient, 4.0, "give a whole number of entries, not float", "请给出元素的个数（一个整数），而不是 float"),
    (check_max_pool_gradient, 4, "4 of 16: one input per window receives the gradient", "16 个中的 4 个：每个窗口只有一个输入得到梯度"),
    (check_max_pool_gradient, 16, "that is every input", "那是全部输入"),
    (check_max_pool_gradient, 1, "1 is not what autograd gives", "1 不是 autograd 给出的结果"),
    (check_pooling_parameters, 150, "give two numbers in a tuple, (max pooling's parameters, the convolution's); got 150",
     "请用一个元组给出两个数，（最大值采样的参数个数，卷积层的参数个数）；得到的却是 150"),
    (check_pooling_parameters, (0, "150"), "both answers are numbers; got (0, '150')", "两个答案都是数；得到的却是 (0, '150')"),
    (check_pooling_parameters, (4, 150), "a pooling window is not a kernel", "池化的窗口不是卷积核"),
    (check_pooling_parameters, (0, 150), "max pooling has 0; the convolution's count is 150: 6 kernels of 2×2×6 and 6 biases",
     "最大值采样有 0 个；卷积层的参数个数是 150：6 个 2×2×6 的卷积核，加上 6 个偏置项"),
    (check_pooling_parameters, (0, 144), "you forgot the biases: one per kernel, 6 of them", "你忘了偏置项：每个卷积核一个，共 6 个"),
    (check_pooling_parameters, (0, 30), "and there are 6 kernels: multiply by C_out too", "而卷积核有 6 个：还要乘以 C_out"),
    (check_pooling_parameters, (0, 24), "there are 6 of them, and each has a bias", "一共有 6 个，而且每个都有一个偏置项"),
    (check_pooling_parameters, (0, 4), "times C_out kernels, plus biases", "乘以 C_out 个卷积核，再加上偏置项"),
    (check_pooling_parameters, (0, 151), "151 is not the convolution's count: F·F·C_in·C_out + C_out, with F = 2 and C_in = C_out = 6",
     "151 不是卷积层的参数个数：F·F·C_in·C_out + C_out，其中 F = 2，C_in = C_out = 6"),
    (check_pooled_side, 3, "the pooled side is 3: windows start at [0, 2, 4]; the last row and column fill no window",
     "池化后的边长是 3：窗口从 [0, 2, 4] 开始；最后一行和最后一列填不满一个窗口"),
    (check_pooled_side, 3.5, "there is no half window: 7 / 2 = 3.5", "没有半个窗口：7 / 2 = 3.5"),
    (check_pooled_side, 4, "a window starting at 6 would need rows 6 and 7, and the map ends at row 6",
     "从第 6 行开始的窗口需要第 6 行和第 7 行，而特征图到第 6 行就结束了"),
    (check_pooled_side, 2, "add 1, for the first.", "再加 1，算上第一个窗口"),
    (check_pooled_side, 6, "with stride 2 the windows sit side by side", "步长为 2 时窗口一个挨一个地排开"),
    (check_pooled_side, 5, "list the rows where each window starts", "列出每个窗口开始的行"),
    (check_pooling_savings, (4,), "(how many times less work, how many times fewer parameters)", "（计算量少了几倍，参数少了几倍）"),
    (check_pooling_savings, (2, 1), "28×28 positions become 14×14", "28×28 个位置变成了 14×14 个"),
    (check_pooling_savings, (3, 1), "the work is one inner product per output number", "计算量是每个输出数一次内积"),
    (check_pooling_savings, (4, 4), "the same 16 kernels of 3×3×6 slide over a map of any size",
     "同样的 16 个 3×3×6 的卷积核可以滑过任意大小的特征图"),
    (check_pooling_savings, (4, 1), "4 times less work (1/4 of the positions) and the same 880 parameters",
     "计算量少了 4 倍（位置只剩 1/4），参数还是同样的 880 个"),
    # counting.py (03)
    (check_conv_parameters, lambda i, o, k, bias=True: k * k * i * o, "a layer has C_out more parameters", "所以一层还要多 C_out 个参数"),
    (check_conv_parameters, lambda i, o, k, bias=True: k * k * i * o + o, "with bias=False the layer has no biases",
     "bias=False 时这一层没有偏置项"),
    (check_conv_parameters, lambda i, o, k, bias=True: k * k * o + o * bias, "multiply by C_in", "要乘以 C_in"),
    (check_conv_parameters, lambda i, o, k, bias=True: k * i * o + o * bias, "k·k weights per input channel, not k",
     "每个输入通道有 k·k 个权重，而不是 k 个"),
    (check_conv_parameters, lambda i, o, k, bias=True: k * k * i * o + i * bias, "C_out biases, not C_in", "C_out 个偏置项，而不是 C_in 个"),
    (check_conv_parameters, lambda i, o, k, bias=True: k * k * i * o / 1,
     "conv_parameters(1, 1, 1, bias=True) returned 1.0; a number of parameters is a whole number (int)",
     "conv_parameters(1, 1, 1, bias=True) 返回了 1.0；参数的个数是一个整数（int）"),
    (check_conv_parameters, lambda i, o, k, bias=True: k * k * i * o + o * bias, "your count equals nn.Conv2d's in all 54 settings",
     "在试过的全部 54 种设置下，你数出的个数都等于 nn.Conv2d 的"),
    (check_conv_parameters, lambda i, o, k, bias=True: k * k * i * o + o * bias + 1,
     "conv_parameters(1, 1, 1) with bias=True gives 3, nn.Conv2d has 2", "conv_parameters(1, 1, 1) 在 bias=True 时得到 3，而 nn.Conv2d 有 2 个"),
    (check_doubled_widths, 5, "give a list of 6 numbers, one per convolution", "请给出一个含 6 个数的列表"),
    (check_doubled_widths, [896, 9248], "the network has 6 convolutions (two per group), your list has 2 numbers",
     "这个网络有 6 个卷积层（每组两个），你的列表里有 2 个数"),
    (check_doubled_widths, [896, 9248, 18496, 36928, 73856, 147584],
     "all 6 counts match; convolution 6 (128 → 128 channels) is the largest", "全部 6 个数都对；第 6 个卷积层（128 → 128 个通道）的参数最多"),
    (check_doubled_widths, [864, 9216, 18432, 36864, 73728, 147456], "each count is C_out too small", "每个数都少了 C_out"),
    (check_doubled_widths, [896, 9248, 18496, 36928, 73856, 147584 + 1], "convolution 6 is wrong: it reads 128 channels and writes 128",
     "第 6 个卷积层算错了：它读入 128 个通道，输出 128 个"),
    (check_parameters_at_224, 760, "the same 10 kernels slide over every position", "都是同样的 10 个卷积核滑过每一个位置"),
    (check_parameters_at_224, 37240, "the parameters do not grow with the image", "参数不随图像变大而增加"),
    (check_parameters_at_224, 750, "you forgot the biases: one per kernel.", "你忘了偏置项：每个卷积核一个。"),
    (check_parameters_at_224, 1000, "has no H or W in it", "里没有 H，也没有 W"),
    (check_alexnet_side, 54, "the output side is 54: H2 = (H1 − FH + 2P) / S + 1", "输出的边长是 54：H2 = (H1 − FH + 2P) / S + 1"),
    (check_alexnet_side, 54.25, "(H1 − FH) / S + 1 = 54.25 is not a whole number", "(H1 − FH) / S + 1 = 54.25 不是整数"),
    (check_alexnet_side, 55, "not what the formula gives for 224", "不是公式对 224 给出的结果"),
    (check_alexnet_side, 56, "stride 4 does not simply divide the side by 4: each window needs 11 pixels",
     "步长 4 并不是简单地把边长除以 4：每个窗口需要 11 个像素"),
    (check_alexnet_side, 53, "the formula ends with + 1.", "公式的最后有一个 + 1。"),
    (check_alexnet_side, 214, "AlexNet's first layer moves 4 pixels at a time", "AlexNet 的第一层每次移动 4 个像素"),
    (check_alexnet_side, 50, "with P = 0, and round the way PyTorch does", "其中 P = 0，并像 PyTorch 那样取整"),
    (check_notes_layers, 7, "the number of layers is 7: 6 convolutions and 1 fully connected layer own parameters",
     "层数是 7：6 个卷积层和 1 个全连接层带参数"),
    (check_notes_layers, 17, "nn.Sequential holds 17 modules", "nn.Sequential 里有 17 个模块"),
    (check_notes_layers, 16, "ReLU, pooling and flattening have no parameters, and the notes count",
     "ReLU、池化和拉长都没有参数，而笔记只数带参数的层"),
    (check_notes_layers, 10, "pooling has no parameters (POOL也没有参数计算)", "池化没有参数（POOL也没有参数计算）：它不算一层"),
    (check_notes_layers, 13, "ReLU has no parameters (激活没有参数)", "ReLU 没有参数（激活没有参数）：一个 CONV + RELU 卷积组算一层"),
    (check_notes_layers, 6, "the fully connected layer at the end has parameters too", "最后的全连接层也有参数"),
    (check_notes_layers, 8, "which of CONV, RELU, POOL, FC have weights", "CONV、RELU、POOL、FC 中哪些有权重"),
    # receptive_fields.py (04)
    (check_field_of, _field(jump=False), "multiply (k − 1) by the jump", "要把 (k − 1) 乘以跳距"),
    (check_field_of, _field(stride_first=True), "update r before j", "所以要先更新 r，再更新 j"),
    (check_field_of, _field(pooling=False), "a pooling window looks at k×k inputs too", "池化的窗口也看 k×k 个输入"),
    (check_field_of, _field(dilation=False), "a dilated kernel spans d·(k − 1) + 1 pixels", "膨胀的卷积核跨越 d·(k − 1) + 1 个像素"),
    (check_field_of, lambda layers: 1.5, "field_of([conv(3), conv(3), conv(3)]) returned 1.5; a receptive field is a whole number",
     "field_of([conv(3), conv(3), conv(3)]) 返回了 1.5；感受野是整数个像素"),
    (check_field_of, _field(), "your recurrence gives the course's field for all 5 stacks", "对全部 5 个层的堆叠，你的递推都给出了课程计算器的感受野"),
    (check_field_of, lambda layers: receptive_field(layers) + 1, "field_of([conv(3), conv(3), conv(3)]) gives 8, the calculator 7",
     "field_of([conv(3), conv(3), conv(3)]) 得到 8，计算器得到 7"),
    (check_layers_for_field, lambda t: (t - 1) / 2, "layers_for_field(3) returned 1.0; a number of layers is a whole number",
     "layers_for_field(3) 返回了 1.0；层数是一个整数"),
    (check_layers_for_field, lambda t: (t - 1) // 2 + 1, "layers_for_field(3) is one layer too many: 1 layers already see 3×3",
     "layers_for_field(3) 多了一层：1 层已经能看到 3×3"),
    (check_layers_for_field, lambda t: (t - 1) // 2, "layers_for_field(8) is too few: 3 layers of 3×3 see only 7×7",
     "layers_for_field(8) 太少了：3 个 3×3 的层只能看到 7×7"),
    (check_layers_for_field, lambda t: t, "layers_for_field(3) is too many: fewer layers already see 3×3",
     "layers_for_field(3) 太多了：更少的层就已经能看到 3×3"),
    (check_layers_for_field, lambda t: next(n for n in range(1, t + 1) if 2 * n + 1 >= t),
     "checked for targets [3, 5, 7, 8, 11, 15, 21, 100]", "对目标 [3, 5, 7, 8, 11, 15, 21, 100] 都检查过了"),
    (check_stacked_field, 7, "the field's side is 7: each 3×3 layer adds 2 pixels", "感受野的边长是 7：感受野从 1 开始，每个 3×3 的层给它加 2 个像素"),
    (check_stacked_field, 9, "each layer adds only k − 1 = 2 pixels", "每一层只给边长加 k − 1 = 2 个像素"),
    (check_stacked_field, 27, "fields do not multiply", "感受野不是相乘"),
    (check_stacked_field, 3, "that is one layer's field", "那是一层的感受野"),
    (check_stacked_field, 5, "that is 2 layers; count all 3", "那是 2 层的；要把全部 3 层都算上"),
    (check_stacked_field, 8, "start from one pixel", "从一个像素开始"),
    (check_stack_weights, 27, "the stack's weight count in units of C² is 27: 3 layers of 3·3·C·C; one 7×7 layer would need 49C²",
     "以 C² 为单位，这几层堆叠起来的权重个数是 27：3 层，每层 3·3·C·C；一个 7×7 的层需要 49C²"),
    (check_stack_weights, 9, "that is one layer; the stack has 3", "那是一层的；堆叠起来有 3 层"),
    (check_stack_weights, 49, "that is the single 7×7 layer's 7·7·C²", "那是单个 7×7 层的 7·7·C²"),
    (check_stack_weights, 729, "they do not multiply", "各层的权重是相加，而不是相乘"),
    (check_stack_weights, 30, "add the layers", "把各层加起来"),
]


# --- 05-07: the checkers of classic architectures, transfer learning, optimizers and losses --------


class _Block(nn.Module):
    """A residual block for check_residual_block, right by default; each flag is one usual slip."""

    padding, one_conv, shortcut, final_relu, stride_on_first = 1, False, "auto", True, True
    ignore_f, fail_down, fail_zeroed = False, False, False

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        first = stride if self.stride_on_first else 1
        layers = [nn.Conv2d(in_channels, out_channels, 3, first, self.padding, bias=False), nn.BatchNorm2d(out_channels)]
        if not self.one_conv:
            layers += [nn.ReLU(), nn.Conv2d(out_channels, out_channels, 3, 1, self.padding, bias=False),
                       nn.BatchNorm2d(out_channels)]
        self.f = nn.Sequential(*layers)
        changes = stride != 1 or in_channels != out_channels
        project = self.shortcut == "1x1" or (changes and self.shortcut != "identity")
        self.projection = (nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, first, bias=False),
                                         nn.BatchNorm2d(out_channels)) if project else None)
        self.changes = changes

    def forward(self, x):
        if self.fail_down and self.changes:
            raise RuntimeError("cuDNN error: CUDNN_STATUS_NOT_SUPPORTED")
        if self.fail_zeroed and not self.f[0].weight.any():
            raise ValueError("all weights are zero")
        if self.ignore_f and not self.changes:
            return torch.relu(x)
        shortcut = {"none": 0, "double": 2 * x}.get(self.shortcut, x) if self.projection is None else self.projection(x)
        y = self.f(x) + shortcut
        return torch.relu(y) if self.final_relu else y


def _block(**slips):
    return type("Block", (_Block,), slips)


def _strided(first=(16, 2, 2, 0), second=(32, 2, 2, 0), classes=10, features=32 * 7 * 7):
    """The notes' first CNN with its poolings replaced by ``(out_channels, kernel, stride, padding)``
    convolutions (``None``: no pooling at all)."""
    def replace(spec, channels):
        return nn.Identity() if spec is None else nn.Conv2d(channels, spec[0], spec[1], spec[2], spec[3])
    width = 16 if first is None else first[0]
    return nn.Sequential(nn.Conv2d(1, 16, 5, 1, 2), nn.ReLU(), replace(first, 16), nn.Conv2d(width, 32, 5, 1, 2),
                         nn.ReLU(), replace(second, 32), nn.Flatten(), nn.Linear(features, classes))


def _valid(returns=4, run=True, grad=False, train_mode=False, per_batch=False, off=False, update=True,
           copy_weights=True, always=False):
    """The notes' valid phase, right by default; each flag is one usual slip."""
    def valid_phase(model, dataloader, criterion, best_acc, best_model_wts):
        if not train_mode:
            model.eval()
        total, correct, means = 0.0, 0, []
        with torch.set_grad_enabled(grad):
            for inputs, labels in dataloader if run else []:
                outputs = model(inputs)
                loss = criterion(outputs, labels)
                total, correct = total + loss.item() * inputs.size(0), correct + int((outputs.argmax(1) == labels).sum())
                means.append(loss.item())
        size = len(dataloader.dataset)
        epoch_loss = (sum(means) / len(means) if per_batch else total / size) * (2 if off else 1)
        epoch_acc = correct / size
        if update and (epoch_acc > best_acc or always):
            best_acc = epoch_acc
            best_model_wts = copy.deepcopy(model.state_dict()) if copy_weights else model.state_dict()
        return (epoch_loss, epoch_acc, best_acc, best_model_wts)[:returns]
    return valid_phase


def _head(*layers):
    return lambda features, classes: nn.Sequential(*(layer(features, classes) for layer in layers))


def _freeze_features(model, feature_extract):
    for parameter in model.features.parameters():
        parameter.requires_grad = not feature_extract


def _smoothed(on_right, elsewhere, dim=1):
    """A label-smoothed cross-entropy that puts ``on_right(ε, K)`` on the right class and ``elsewhere(ε, K)`` on the others."""
    def loss(logits, targets, epsilon):
        k = logits.shape[1]
        one_hot = F.one_hot(targets, k).double()
        target = one_hot * on_right(epsilon, k) + (1 - one_hot) * elsewhere(epsilon, k)
        return -(target * logits.log_softmax(dim=dim)).sum(dim=1).mean()
    return loss


def _unweighted_ece(logits, labels, n_bins):
    bins = reliability(logits, labels, n_bins=n_bins)
    gaps = [abs(a - c) for a, c, n in zip(bins.accuracy, bins.confidence, bins.counts, strict=True) if n > 0]
    return sum(gaps) / len(gaps)


def _adamw(l2=False, decay=True, scaled=True, bias_correction=True, after=False, keep_moments=False,
           off=0.0, shape=None, returns=3):
    """One AdamW step by hand, right by default; each flag is one usual slip."""
    def adamw_step(w, grad, m, v, t, lr, weight_decay):
        (beta1, beta2), eps = (0.9, 0.999), 1e-8
        factor = (lr * weight_decay if scaled else weight_decay) if decay and not l2 else 0.0
        g = grad + weight_decay * w if l2 else grad
        new_m, new_v = beta1 * m + (1 - beta1) * g, beta2 * v + (1 - beta2) * g**2
        m_hat, v_hat = (new_m / (1 - beta1**t), new_v / (1 - beta2**t)) if bias_correction else (new_m, new_v)
        w = w if after else w * (1 - factor)
        w = w - lr * m_hat / (v_hat.sqrt() + eps) + off
        w = w * (1 - factor) if after else w
        result = (w.reshape(shape) if shape else w, *((m, v) if keep_moments else (new_m, new_v)))
        return result[0] if returns == 1 else result
    return adamw_step


def check_step_factor_epoch_10(answer):
    """The StepLR prediction asked for epoch 10, where two steps have been taken (the plural sentence)."""
    return check_step_factor(answer, epoch=10)


_RESNET152_PARAMETERS = 58_352_806  # torchvision's resnet152 with the notes' 102-class head

MESSAGES_05_07 = [
    # architectures.py (05)
    (check_residual_block, lambda i, o, stride=1: 5, "Block(...) must build an nn.Module", "Block(...) 必须构建出一个 nn.Module"),
    (check_residual_block, _block(padding=0, shortcut="none"), "Block(8, 8) turns (2, 8, 12, 12) into (2, 8, 8, 8)",
     "Block(8, 8) 把 (2, 8, 12, 12) 变成了 (2, 8, 8, 8)：通道数不变、步长为 1 时，它必须保持形状不变"),
    (check_residual_block, _block(shortcut="identity"), "cannot add x to F(x), whose shape differs",
     "无法把 x 加到形状不同的 F(x) 上"),
    (check_residual_block, _block(fail_down=True), "Block(8, 16, stride=2)(x) raised RuntimeError: cuDNN error",
     "Block(8, 16, stride=2)(x) 抛出了 RuntimeError：cuDNN error"),
    (check_residual_block, _block(stride_on_first=False), "gives (2, 16, 12, 12), not (2, 16, 6, 6)",
     "得到 (2, 16, 12, 12)，而不是 (2, 16, 6, 6)：步长放在第一个卷积上"),
    (check_residual_block, _block(one_conv=True), "F(x) is two 3×3 convolutions", "F(x) 是两个 3×3 卷积"),
    (check_residual_block, _block(ignore_f=True), "your block still returns relu(x)", "你的块仍然返回 relu(x)：F(x) 没有加上去"),
    (check_residual_block, _block(), "with F(x) = 0 the block returns relu(x): the identity path is there",
     "F(x) = 0 时这个块返回 relu(x)：恒等通路是存在的"),
    (check_residual_block, _block(fail_zeroed=True), "Block(8, 8)(x) with F(x) = 0 raised ValueError",
     "F(x) = 0 时的 Block(8, 8)(x) 抛出了 ValueError"),
    (check_residual_block, _block(final_relu=False), "must end with a ReLU after the addition", "必须在相加之后以一个 ReLU 结尾"),
    (check_residual_block, _block(shortcut="1x1"), "the shortcut must be the identity, not a 1×1 convolution",
     "捷径必须是恒等映射，而不是 1×1 卷积"),
    (check_residual_block, _block(shortcut="none"), "your block returns zeros, not relu(x)", "你的块返回全零，而不是 relu(x)"),
    (check_residual_block, _block(shortcut="double"), "your block should return relu(x)", "你的块应该返回 relu(x)"),
    (check_strided_first_cnn, 5, "give the network itself (an nn.Module), not int", "请给出网络本身（一个 nn.Module），而不是 int"),
    (check_strided_first_cnn, FirstCNN(), "there is still a MaxPool2d", "你的网络里还有 MaxPool2d"),
    (check_strided_first_cnn, _strided(second=None, features=32 * 14 * 14), "expected 2 convolutions with stride 2 (one per pooling), found 1",
     "应该有 2 个步长为 2 的卷积（每个池化一个），却找到了 1 个"),
    (check_strided_first_cnn, _strided(first=(8, 2, 2, 0)), "16 in, 16 out, not 16 → 8", "输入 16 张，输出 16 张，而不是 16 → 8"),
    (check_strided_first_cnn, _strided(first=(16, 3, 2, 0)), "after 28×28 maps gives 13×13, but the pooling it replaces gave 14×14",
     "28×28 的特征图之后，带步长的卷积得到 13×13，而它代替的池化得到 14×14"),
    (check_strided_first_cnn, _strided(features=32 * 14 * 14), "model(one 1×28×28 digit) raised RuntimeError",
     "model(一张 1×28×28 的数字图像) 抛出了 RuntimeError"),
    (check_strided_first_cnn, _strided(classes=5), "one digit gives scores of shape (1, 5), not (1, 10)",
     "一张数字图像得到的分数形状是 (1, 5)，而不是 (1, 10)"),
    (check_strided_first_cnn, _strided(), "add 5,168 parameters to the 28,938 of FirstCNN",
     "在 FirstCNN 的 28,938 个参数之外又增加了 5,168 个"),
    (check_lrs_entries, 3, "the number of entries in LRs is 3: LRs starts with the rate before the first epoch",
     "LRs 中的元素个数是 3：LRs 一开始就有第一个 epoch 之前的学习率"),
    (check_lrs_entries, 2, "LRs does not start empty", "LRs 一开始并不是空的"),
    (check_lrs_entries, 5, "the rate is appended once per epoch, after both phases", "学习率每个 epoch 添加一次"),
    (check_lrs_entries, 7, "7 is not the number of entries in LRs: count the append in the loop",
     "7 不是LRs 中的元素个数：数一数循环里的 append"),
    (check_shortcut_parameters, 8448, "a 1×1 convolution without bias (64·128 weights) and a BatchNorm",
     "一个不带偏置项的 1×1 卷积（64·128 个权重）和一个 BatchNorm"),
    (check_shortcut_parameters, 8192, "the shortcut's BatchNorm has parameters too", "捷径上的 BatchNorm 也有参数"),
    (check_shortcut_parameters, 8576, "the 1×1 convolution has no bias (bias=False)", "这个 1×1 卷积没有偏置项（bias=False）"),
    (check_shortcut_parameters, 8704, "running mean and variance are buffers", "滑动均值和方差是缓冲区"),
    (check_shortcut_parameters, 73984, "one weight per input and output channel, not 3×3", "每对输入通道和输出通道一个权重"),
    (check_shortcut_parameters, 100, "100 is not the projection shortcut's parameters: the shortcut is a 1×1 convolution",
     "100 不是投影捷径的参数个数：这条捷径是一个 1×1 卷积"),
    (check_valid_phase, _valid(returns=3), "return four values", "返回四个值"),
    (check_valid_phase, _valid(run=False), "valid_phase never ran the model", "valid_phase 从来没有运行模型"),
    (check_valid_phase, _valid(grad=True), "the valid phase computes no gradients", "验证阶段不计算梯度"),
    (check_valid_phase, _valid(train_mode=True), "the model is still in training mode", "模型仍处于训练模式"),
    (check_valid_phase, _valid(per_batch=True), "you averaged the batches' mean losses", "你对各批次的平均损失又取了平均"),
    (check_valid_phase, _valid(off=True), "the loss and accuracy over every image", "即在每一张图像上的损失和准确率"),
    (check_valid_phase, _valid(update=False), "this epoch beats best_acc = 0.0", "这个 epoch 超过了 best_acc = 0.0"),
    (check_valid_phase, _valid(copy_weights=False), "best_model_wts changed when the model trained on",
     "模型继续训练时 best_model_wts 也跟着变了"),
    (check_valid_phase, _valid(always=True), "an epoch that is not better than best_acc", "一个没有超过 best_acc 的 epoch"),
    (check_valid_phase, _valid(), "loss and accuracy over every image in evaluation mode", "在评估模式下、不计算梯度"),
    # transfer.py (06)
    (check_notes_head, lambda features, classes: 5, "make_head must return an nn.Module (e.g. an nn.Sequential), not int",
     "make_head 必须返回一个 nn.Module（例如 nn.Sequential），而不是 int"),
    (check_notes_head, lambda features, classes: nn.Linear(16, classes),
     "the head on a batch of 4 feature vectors of 32 raised RuntimeError", "头部作用在一个由 4 个长度为 32 的特征向量组成的批次上 抛出了 RuntimeError"),
    (check_notes_head, _head(lambda f, c: nn.Linear(f, c + 1), lambda f, c: nn.LogSoftmax(dim=1)),
     "4 feature vectors should give scores of shape (4, 5), not (4, 6)", "4 个特征向量应该得到形状为 (4, 5) 的分数，而不是 (4, 6)"),
    (check_notes_head, _head(lambda f, c: nn.Linear(f, c, bias=False), lambda f, c: nn.LogSoftmax(dim=1)),
     "your head has no bias", "你的头部没有偏置项"),
    (check_notes_head, _head(lambda f, c: nn.Linear(f, f), lambda f, c: nn.Linear(f, c), lambda f, c: nn.LogSoftmax(dim=1)),
     "your head has 1221 parameters; one Linear layer from 32 features to 5 classes has 165",
     "你的头部有 1221 个参数；一个从 32 个特征到 5 个类别的 Linear 层有 165 个"),
    (check_notes_head, _head(lambda f, c: nn.Linear(f, c), lambda f, c: nn.LogSoftmax(dim=1)),
     "log-probabilities, as NLLLoss expects", "正是 NLLLoss 所期望的对数概率"),
    (check_notes_head, _head(lambda f, c: nn.Linear(f, c), lambda f, c: nn.Softmax(dim=1)),
     "your head outputs probabilities", "你的头部输出的是概率"),
    (check_notes_head, _head(lambda f, c: nn.Linear(f, c), lambda f, c: nn.LogSoftmax(dim=0)),
     "you normalise over the batch (dim=0)", "你在批次上做了归一化（dim=0）：每张图像的分数"),
    (check_notes_head, _head(lambda f, c: nn.Linear(f, c)), "your head outputs raw scores", "你的头部输出的是原始分数"),
    (check_freeze, lambda model, feature_extract: setattr(model, "requires_grad", not feature_extract),
     "model.requires_grad = False only sets an attribute", "model.requires_grad = False 只是给模块设置了一个属性"),
    (check_freeze, _freeze_features, "with feature_extract=True, 2 of 6 parameter tensors still train (fc.weight...)",
     "feature_extract=True 时，6 个参数张量中仍有 2 个在训练（fc.weight...）"),
    (check_freeze, lambda model, feature_extract: model.requires_grad_(False), "with feature_extract=False nothing may be frozen",
     "feature_extract=False 时什么都不能冻住"),
    (check_freeze, lambda model, feature_extract: model.requires_grad_(not feature_extract),
     "only the head's 36 parameters train", "只有头部的 36 个参数在训练"),
    (check_stage1_parameters, 2048 * 102 + 102, "the number of parameters that train is 208998: only the new Linear(2048, 102) trains",
     "会被训练的参数个数是 208998：只有新的 Linear(2048, 102) 在训练"),
    (check_stage1_parameters, 2048 * 102, "the new Linear layer keeps its biases", "新的 Linear 层保留了偏置项"),
    (check_stage1_parameters, 2048 * 1000 + 1000, "ImageNet's old head, with 1,000 classes", "ImageNet 原来的头部，有 1,000 个类别"),
    (check_stage1_parameters, 2048 * 102 + 2048, "one bias per output, that is per class", "每个输出有一个偏置项"),
    (check_stage1_parameters, _RESNET152_PARAMETERS, "froze every pretrained weight", "冻住了每一个预训练权重"),
    (check_stage1_parameters, 5, "5 is not the number of parameters that train: only the layer created after",
     "5 不是会被训练的参数个数：只有在 set_parameter_requires_grad 之后新建的那一层会被训练"),
    (check_backbone_passes, (3, 1), "in each of the 3 epochs; cached features run the frozen backbone once",
     "在 3 个 epoch 中的每一个都让整个模型处理每一张照片"),
    (check_backbone_passes, (3, 3), "cached features are computed once and reused", "缓存特征只算一次"),
    (check_backbone_passes, (1, 1), "freezing stops the weights from changing, not the arithmetic", "冻住阻止的是权重的改变，而不是计算"),
    (check_backbone_passes, (3, 0), "the features have to be computed once", "特征总得算一次"),
    (check_backbone_passes, (6, 1), "a training photo is seen once per epoch", "一张训练照片每个 epoch 只被看一次"),
    (check_backbone_passes, (2, 2), "is not (backbone passes the notes' way, with cached features): count the epochs",
     "不是（按笔记的方式主干网络的遍数，用缓存特征时的遍数）：数一数每种方式"),
    # optimizers_losses.py (07)
    (check_step_factor, 10, "1 step of ÷10 before it", "在它之前有 1 步 ÷10"),
    (check_step_factor_epoch_10, 100, "2 steps of ÷10 before it", "在它之前有 2 步 ÷10"),
    (check_step_factor, 100, "that counts the step at the end of epoch 8 too", "这把第 8 个 epoch 结束时的那一步也算进去了"),
    (check_step_factor, 1, "the rate of epoch 8 is no longer the peak", "第 8 个 epoch 的学习率已经不是峰值了"),
    (check_step_factor, 10_000_000, "that multiplies by gamma after every epoch", "这是每个 epoch 之后都乘以 gamma"),
    (check_step_factor, 0.1, "that is the rate as a fraction of the peak", "这是学习率占峰值的比例"),
    (check_step_factor, 5, "5 is not the factor by which epoch 8's rate is smaller than the peak: count the steps",
     "5 不是第 8 个 epoch 的学习率比峰值小的倍数：数一数"),
    (check_smoothed_confidence, 0.901, "the confidence that smoothing with ε = 0.1 rewards most (102 classes) is",
     "ε = 0.1 的标签平滑最鼓励的置信度（102 个类别）是"),
    (check_smoothed_confidence, 1.0, "that is what plain cross-entropy pushes towards", "那是普通交叉熵推向的值"),
    (check_smoothed_confidence, 0.9, "that leaves out the right class's own share of ε", "这漏掉了正确类别自己那一份 ε"),
    (check_smoothed_confidence, 0.001, "that is what each wrong class gets", "那是每个错误类别得到的值"),
    (check_smoothed_confidence, 0.5, "work out the target of the right class", "算出正确类别的目标值"),
    (check_smoothed_cross_entropy, lambda logits, targets, epsilon: "x",
     "smoothed_cross_entropy(logits, targets, 0.1) returned str: return a number", "smoothed_cross_entropy(logits, targets, 0.1) 返回了 str：请返回一个数"),
    (check_smoothed_cross_entropy, lambda lo, t, e: F.cross_entropy(lo, t, label_smoothing=e, reduction="none"),
     "you return one loss per image", "你为每张图像返回了一个损失"),
    (check_smoothed_cross_entropy, lambda lo, t, e: F.cross_entropy(lo, t, label_smoothing=e, reduction="sum"),
     "you sum the losses over the batch", "你在批次上把损失加了起来"),
    (check_smoothed_cross_entropy, lambda lo, t, e: F.cross_entropy(lo, t), "with ε = 0.1 you get plain cross-entropy",
     "ε = 0.1 时你得到的是普通交叉熵"),
    (check_smoothed_cross_entropy, _smoothed(lambda e, k: 1 - e, lambda e, k: e / (k - 1)),
     "you spread ε over the K − 1 wrong classes; PyTorch spreads it over all K = 5", "PyTorch 把它分给全部 K = 5 个类别"),
    (check_smoothed_cross_entropy, _smoothed(lambda e, k: 1 - e, lambda e, k: 0.0), "your target puts 1 − ε on the right class",
     "你的目标在正确类别上放 1 − ε"),
    (check_smoothed_cross_entropy, _smoothed(lambda e, k: 1 - e + e / k, lambda e, k: e / k, dim=0),
     "the softmax runs over each image's classes, dim=1", "softmax 应该在每张图像的各个类别上进行，即 dim=1"),
    (check_smoothed_cross_entropy, lambda lo, t, e: 1.0, "smoothed_cross_entropy(logits, targets, 0.1) gives 1.0000",
     "smoothed_cross_entropy(logits, targets, 0.1) 得到 1.0000"),
    (check_smoothed_cross_entropy, lambda lo, t, e: F.cross_entropy(lo, t, label_smoothing=e),
     "your loss equals F.cross_entropy(..., label_smoothing=ε) for ε = 0.1, 0.3 and 0", "对 ε = 0.1、0.3 和 0，你的损失都等于"),
    (check_calibration_error, lambda lo, la, n: torch.zeros(2), "calibration_error(logits, labels, 10) returned 2 numbers",
     "calibration_error(logits, labels, 10) 返回了 2 个数"),
    (check_calibration_error, lambda lo, la, n: expected_calibration_error(lo, la, n_bins=4 if n == 10 else 10),
     "with n_bins=10 you get the value for 4 bins", "n_bins=10 时你得到的是 4 个区间的值"),
    (check_calibration_error, _unweighted_ece, "you average the bins' gaps as equals", "你把各区间的差距同等对待"),
    (check_calibration_error, lambda lo, la, n: expected_calibration_error(lo, la, n_bins=1),
     "that is the gap over all predictions at once", "这是把所有预测放在一起算出的差距"),
    (check_calibration_error, lambda lo, la, n: 0.5, "calibration_error(logits, labels, 10) gives 0.5000",
     "calibration_error(logits, labels, 10) 得到 0.5000"),
    (check_calibration_error, lambda lo, la, n: expected_calibration_error(lo, la, n_bins=n),
     "your ECE equals expected_calibration_error with 10 and with 4 bins", "在 10 个和 4 个区间下，你的 ECE 都等于"),
    (check_adamw_step, _adamw(returns=1), "must return the three tensors (w, m, v)", "必须返回三个张量 (w, m, v)"),
    (check_adamw_step, _adamw(shape=(2, 3)), "returned w of shape (2, 3): the weights keep their shape (6,)",
     "返回的 w 形状是 (2, 3)：权重要保持它们的形状 (6,)"),
    (check_adamw_step, _adamw(), "five steps equal torch.optim.AdamW's", "五步都与 torch.optim.AdamW 的相同"),
    (check_adamw_step, _adamw(l2=True), "you add λ·w to the gradient", "你把 λ·w 加到了梯度上"),
    (check_adamw_step, _adamw(decay=False), "your weights do not decay", "你的权重没有衰减"),
    (check_adamw_step, _adamw(scaled=False), "you shrink the weights by λ·w each step", "你每一步把权重缩小 λ·w"),
    (check_adamw_step, _adamw(bias_correction=False), "without bias correction", "没有偏差校正"),
    (check_adamw_step, _adamw(after=True), "you shrink the weights after Adam's step", "你在 Adam 那一步之后才缩小权重"),
    (check_adamw_step, _adamw(keep_moments=True), "your first step is right but the later ones are not", "你的第一步是对的"),
    (check_adamw_step, _adamw(off=0.5), "after step 1 your weights differ from torch.optim.AdamW's by up to 0.5",
     "第 1 步之后，你的权重与 torch.optim.AdamW 的最多相差 0.5"),
]

ALL_MESSAGES = MESSAGES + MESSAGES_01_04 + MESSAGES_05_07


@pytest.mark.parametrize("check, answer, english, chinese", ALL_MESSAGES,
                         ids=[f"{m[0].__name__}-{i}" for i, m in enumerate(ALL_MESSAGES)])
def test_each_message_in_english_and_in_chinese(check, answer, english, chinese, capsys):
    verdict = check(answer)
    assert english in verdict.message, verdict.message
    assert capsys.readouterr().out.strip() == str(verdict)
    with use_language("zh_CN"):
        translated = check(answer)
        shown = str(translated)
    assert translated.status == verdict.status
    assert chinese in translated.message and CJK.search(translated.message), translated.message
    assert capsys.readouterr().out.strip() == shown
    assert shown.startswith({"right": "✓ 正确：", "wrong": "✗ ", "not done": "… 还没有完成"}[verdict.status]), shown
    numbers = re.findall(r"\d+(?:\.\d+)?", verdict.message.replace("F.conv2d", ""))
    assert sorted(numbers) == sorted(re.findall(r"\d+(?:\.\d+)?", translated.message.replace("F.conv2d", ""))), \
        "the same values, in another language"


def _says(message: str, sentence: str) -> bool:
    """Whether ``sentence`` is ``message`` filled in (its words, values aside)."""
    return all(part in sentence for part in re.split(r"\{[^}]*\}", message) if part.strip())


def test_every_message_of_the_checkers_is_covered_in_both_languages(capsys):
    """Each ``_("...")`` of 00-07's checkers (and of verdict and prediction) is said by a case above,
    in English, and its translation in Chinese."""
    from tools.i18n.messages import extract_messages

    messages = [m.msgid for m in extract_messages(ROOT) if m.ctxt in CHECKER_MODULES]
    assert len(messages) > 150
    english = [str(check(answer)) for check, answer, _en, _zh in ALL_MESSAGES]
    with use_language("zh_CN"):
        chinese = [str(check(answer)) for check, answer, _en, _zh in ALL_MESSAGES]
        translations = {m: gettext(m) for m in messages}
    capsys.readouterr()
    assert [m for m in messages if not any(_says(m, s) for s in english)] == []
    assert [m for m in messages if translations[m] == m or not CJK.search(translations[m])] == [], "untranslated"
    assert [translations[m] for m in messages if not any(_says(translations[m], s) for s in chinese)] == []


def test_the_explorers_labels_are_in_chinese_in_the_glossarys_terms():
    glossary = read_glossary(glossary_path(ROOT))
    with use_language("zh_CN"):
        conv = conv_explorer()
        pooling = pooling_explorer()
        field = receptive_field_explorer()
    labels = {w.description for box in (conv, pooling, field) for w in box.children[0].children}
    assert {"输入尺寸", "卷积核", "步长", "边缘填充", "膨胀", "区域", "池化", "卷积层数"} <= labels
    assert all(CJK.search(label) for label in labels), labels
    for english in ("kernel", "stride", "padding", "dilation", "window", "pooling"):
        with use_language("zh_CN"):
            assert gettext(english) == glossary.find(english).zh
    toggle = pooling_explorer().children[0].children[-1]  # English: the labels are the values
    assert list(toggle._options_values) == ["max", "avg"] and list(toggle._options_labels) == ["max", "avg"]
    with use_language("zh_CN"):
        toggle = pooling_explorer().children[0].children[-1]
    assert list(toggle._options_labels) == ["最大值", "平均值"] and list(toggle._options_values) == ["max", "avg"]


def test_every_translated_label_that_is_a_glossary_term_is_the_glossarys_chinese():
    glossary = read_glossary(glossary_path(ROOT))
    catalog = polib.pofile(str(LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "course_utils.po"))
    terms = [e for e in catalog if e.msgid in glossary]
    assert len(terms) >= 6
    assert [(e.msgid, e.msgstr) for e in terms] == [(e.msgid, glossary.find(e.msgid).zh) for e in terms]


def test_a_checker_reads_the_language_when_it_answers():
    assert "returned None" in check_output_at(lambda *a: None).message
    set_language("zh_CN")
    assert "返回了 None" in check_output_at(lambda *a: None).message
    set_language("en")
    assert "returned None" in check_output_at(lambda *a: None).message


# --- figures: the explorers' titles are messages, so a Chinese notebook's figures need a Chinese font


def test_in_chinese_matplotlib_draws_chinese_without_missing_glyphs():
    import warnings

    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    import course_utils.i18n as i18n

    if not i18n._fontconfig_chinese_files() and not {f.name for f in matplotlib.font_manager.fontManager.ttflist} & set(
            i18n.CHINESE_FONTS):
        pytest.skip("no font with Chinese characters is installed (apt-get install fonts-wqy-microhei)")
    with matplotlib.rc_context():
        set_language("zh_CN")
        assert set(matplotlib.rcParams["font.family"]) & set(i18n.CHINESE_FONTS)
        figure = Figure(figsize=(3, 2))
        figure.subplots().set_title(gettext("{mode} pooled").format(mode=gettext("avg")) + " (avg)")
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "Glyph ... missing from font(s)" would raise
            FigureCanvasAgg(figure).draw()


def test_without_a_chinese_font_the_language_cell_says_what_to_install(monkeypatch):
    import matplotlib

    import course_utils.i18n as i18n

    monkeypatch.setattr(i18n, "CHINESE_FONTS", ("No Such Font SC",))
    monkeypatch.setattr(i18n, "_fontconfig_chinese_files", lambda: [])
    with matplotlib.rc_context(), pytest.warns(UserWarning, match="apt-get install fonts-wqy-microhei"):
        set_language("zh_CN")
    assert language() == "zh_CN", "the messages are Chinese all the same"
