"""Checkers for notebook 07 (optimizers, schedules, losses): its two predictions (StepLR's rate in
a given epoch, the confidence label smoothing rewards) and its exercises, label-smoothed
cross-entropy, the expected calibration error and one AdamW step, each written by hand. The
expected values come from ``make_schedule`` (``torch.optim.lr_scheduler.StepLR``),
``F.cross_entropy``, the course's ``expected_calibration_error`` and ``torch.optim.AdamW``;
every check runs on a few small tensors it makes itself, in milliseconds. Every sentence goes
through ``_()`` (the Chinese edition)."""

from __future__ import annotations

from collections.abc import Callable
from numbers import Real

import torch
import torch.nn.functional as F

from course_utils.analysis.calibration import expected_calibration_error, reliability
from course_utils.exercises.prediction import compare_prediction
from course_utils.exercises.verdict import Mistake, Verdict, attempt, checker, right
from course_utils.i18n import gettext as _
from course_utils.training.schedules import make_schedule, schedule_rates

__all__ = [
    "check_adamw_step",
    "check_calibration_error",
    "check_smoothed_confidence",
    "check_smoothed_cross_entropy",
    "check_step_factor",
]


def _as_number(value: object, call: str) -> torch.Tensor:
    """The learner's loss or error as a tensor (a float or a tensor of one or more numbers)."""
    if isinstance(value, bool) or not isinstance(value, Real | torch.Tensor):
        raise Mistake(_("{call} returned {type}: return a number (a float or a tensor).").format(
            call=call, type=type(value).__name__))
    return torch.as_tensor(value, dtype=torch.float64).detach()


def _close(value: torch.Tensor, expected: torch.Tensor | float) -> bool:
    expected = torch.as_tensor(expected, dtype=torch.float64)
    return value.shape == expected.shape and torch.allclose(value, expected, rtol=1e-4, atol=1e-6)


# --- predictions: StepLR's rate in an epoch, the confidence label smoothing rewards -------------


@checker
def check_step_factor(step_factor: object, *, epoch: int = 8, epochs: int = 10, step_size: int = 4,
                      gamma: float = 0.1) -> Verdict:
    """Predict: by what factor is the rate of ``epoch`` (counted from 1) smaller than the peak, under
    ``StepLR(step_size, gamma)`` stepped once after every epoch (as ``fit`` does)?"""
    rates = schedule_rates(lambda optimizer: make_schedule("step", optimizer, epochs=epochs, step_size=step_size,
                                                           gamma=gamma), epochs)
    expected = round(rates[0] / rates[epoch - 1])
    steps_taken = (epoch - 1) // step_size
    because = (_("StepLR steps at the end of every {step_size}th epoch, and a step at the end of epoch {epoch} "
                 "comes too late for it: 1 step of ÷{factor:g} before it.") if steps_taken == 1 else
               _("StepLR steps at the end of every {step_size}th epoch, and a step at the end of epoch {epoch} "
                 "comes too late for it: {steps} steps of ÷{factor:g} before it."))
    return compare_prediction(
        step_factor, expected,
        what=_("the factor by which epoch {epoch}'s rate is smaller than the peak").format(epoch=epoch),
        because=because.format(step_size=step_size, epoch=epoch, steps=steps_taken, factor=1 / gamma),
        slips=[
            (round(1 / gamma ** (epoch // step_size)), _("that counts the step at the end of epoch {epoch} too: "
             "the scheduler steps after an epoch ends, so epoch {epoch} still trains at the rate set before "
             "it.").format(epoch=epoch)),
            (1, _("the rate of epoch {epoch} is no longer the peak: StepLR multiplies it by gamma every "
                  "{step_size} epochs.").format(epoch=epoch, step_size=step_size)),
            (round(1 / gamma ** (epoch - 1)), _("that multiplies by gamma after every epoch: StepLR does it once "
             "every step_size = {step_size} epochs.").format(step_size=step_size)),
            (gamma ** steps_taken, _("that is the rate as a fraction of the peak; the question asks by what "
             "factor it is smaller: the peak divided by that rate.")),
        ],
        hint=_("count the steps StepLR has taken before epoch {epoch} starts (one after each {step_size} "
               "epochs), and multiply the factors.").format(epoch=epoch, step_size=step_size),
    )


@checker
def check_smoothed_confidence(confidence: object, *, epsilon: float = 0.1, classes: int = 102) -> Verdict:
    """Predict: the probability of the right class at which one image's loss under
    ``CrossEntropyLoss(label_smoothing=epsilon)`` is lowest, with ``classes`` classes (three decimals)."""
    logits = torch.zeros(1, classes, dtype=torch.float64, requires_grad=True)
    F.cross_entropy(logits, torch.tensor([0]), label_smoothing=epsilon).backward()
    # the gradient with respect to the logits is softmax(z) − target, and softmax(0) is 1/K everywhere
    assert logits.grad is not None
    target = 1 / classes - logits.grad[0]
    expected = float(target[0])
    return compare_prediction(
        confidence, expected, tolerance=5e-4,
        what=_("the confidence that smoothing with ε = {epsilon:g} rewards most ({classes} classes)").format(
            epsilon=epsilon, classes=classes),
        because=_("cross-entropy is lowest where the prediction equals the target, and the target gives the "
                  "right class 1 − ε plus its share ε/K of what was spread."),
        slips=[
            (1.0, _("that is what plain cross-entropy pushes towards; with label_smoothing the target of the "
                    "right class is below 1, and the loss is lowest where the prediction equals the target.")),
            (1 - epsilon, _("that leaves out the right class's own share of ε: PyTorch spreads ε over all K "
                            "classes, the right one included.")),
            (epsilon / classes, _("that is what each wrong class gets; the right class keeps 1 − ε on top "
                                  "of its share.")),
        ],
        hint=_("cross-entropy against a target is lowest where the predicted probabilities equal the target; "
               "work out the target of the right class (three decimals)."),
    )


# --- 1. label smoothing ------------------------------------------------------------------------


def _smoothed_loss(log_p: torch.Tensor, targets: torch.Tensor, on_right: float, elsewhere: float) -> torch.Tensor:
    """Cross-entropy towards ``on_right`` on the right class and ``elsewhere`` on each other one."""
    one_hot = F.one_hot(targets, log_p.shape[1]).double()
    return -((one_hot * on_right + (1 - one_hot) * elsewhere) * log_p).sum(dim=1).mean()


@checker
def check_smoothed_cross_entropy(smoothed_cross_entropy: Callable[..., object]) -> Verdict:
    """Check ``smoothed_cross_entropy(logits, targets, epsilon)`` against
    ``F.cross_entropy(logits, targets, label_smoothing=epsilon)`` (a mean over the batch)."""
    generator = torch.Generator().manual_seed(0)
    batch, classes = 6, 5
    logits = torch.randn(batch, classes, generator=generator, dtype=torch.float64) * 2
    targets = torch.randint(classes, (batch,), generator=generator)
    log_p = logits.log_softmax(dim=1)
    for epsilon in (0.1, 0.3, 0.0):
        call = f"smoothed_cross_entropy(logits, targets, {epsilon})"
        answer = attempt(smoothed_cross_entropy, logits.clone(), targets.clone(), epsilon, call=call)
        value = _as_number(answer, call)
        expected = F.cross_entropy(logits, targets, label_smoothing=epsilon)
        if _close(value, expected):
            continue
        per_image = F.cross_entropy(logits, targets, label_smoothing=epsilon, reduction="none")
        if _close(value, per_image):
            raise Mistake(_("you return one loss per image: take their mean over the batch, as "
                            "F.cross_entropy does."))
        if _close(value, per_image.sum()):
            raise Mistake(_("you sum the losses over the batch: F.cross_entropy takes their mean, so the loss "
                            "does not grow with the batch size."))
        if epsilon > 0 and _close(value, F.cross_entropy(logits, targets)):
            raise Mistake(_("with ε = {epsilon} you get plain cross-entropy: your loss does not use ε.").format(
                epsilon=epsilon))
        over_k_minus_1 = _smoothed_loss(log_p, targets, 1 - epsilon, epsilon / (classes - 1))
        if epsilon > 0 and _close(value, over_k_minus_1):
            raise Mistake(_("you spread ε over the K − 1 wrong classes; PyTorch spreads it over all K = {classes}, "
                            "so the right class gets 1 − ε + ε/K and every other class ε/K.").format(classes=classes))
        if epsilon > 0 and _close(value, _smoothed_loss(log_p, targets, 1 - epsilon, 0.0)):
            raise Mistake(_("your target puts 1 − ε on the right class and nothing elsewhere: it must still "
                            "sum to 1, so add ε/K to every class (the right one included)."))
        over_batch = logits.log_softmax(dim=0)
        if _close(value, _smoothed_loss(over_batch, targets, 1 - epsilon + epsilon / classes, epsilon / classes)):
            raise Mistake(_("you normalise over the batch (dim=0): the softmax runs over each image's "
                            "classes, dim=1."))
        raise Mistake(_("{call} gives {value:.4f}, F.cross_entropy(..., label_smoothing={epsilon}) {expected:.4f}: "
                        "the loss is −Σ_k target_k · log softmax(z)_k, then the mean.").format(
            call=call, value=float(value), epsilon=epsilon, expected=float(expected)))
    return right(_("your loss equals F.cross_entropy(..., label_smoothing=ε) for ε = 0.1, 0.3 and 0: "
                   "the right class gets 1 − ε + ε/K, every other class ε/K."))


# --- 2. the expected calibration error ---------------------------------------------------------


def _calibration_case() -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of 4 classes: under-confident below a confidence of 0.6, over-confident above."""
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(400, 4, generator=generator) * 2
    unsure = logits.softmax(dim=1).max(dim=1).values < 0.6
    temperature = torch.where(unsure, 0.4, 2.0)[:, None]  # labels drawn more, or less, certain than predicted
    labels = torch.multinomial((logits / temperature).softmax(dim=1), 1, generator=generator).squeeze(1)
    return logits, labels


def _unweighted_ece(logits: torch.Tensor, labels: torch.Tensor, n_bins: int) -> float:
    bins = reliability(logits, labels, n_bins=n_bins)
    gaps = [abs(a - c) for a, c, n in zip(bins.accuracy, bins.confidence, bins.counts, strict=True) if n > 0]
    return sum(gaps) / len(gaps)


@checker
def check_calibration_error(calibration_error: Callable[..., object]) -> Verdict:
    """Check ``calibration_error(logits, labels, n_bins)`` against the course's
    ``expected_calibration_error`` (bins of equal width on [0, 1], weighted by their share)."""
    logits, labels = _calibration_case()
    for n_bins in (10, 4):
        call = f"calibration_error(logits, labels, {n_bins})"
        value = _as_number(attempt(calibration_error, logits.clone(), labels.clone(), n_bins, call=call), call)
        if value.numel() != 1:
            raise Mistake(_("{call} returned {count} numbers: add the bins' weighted gaps up into one.").format(
                call=call, count=value.numel()))
        value = value.reshape(())
        expected = expected_calibration_error(logits, labels, n_bins=n_bins)
        if _close(value, expected):
            continue
        other = 4 if n_bins == 10 else 10
        if _close(value, expected_calibration_error(logits, labels, n_bins=other)):
            raise Mistake(_("with n_bins={n_bins} you get the value for {other} bins: use the n_bins you are "
                            "given.").format(n_bins=n_bins, other=other))
        if _close(value, _unweighted_ece(logits, labels, n_bins)):
            raise Mistake(_("you average the bins' gaps as equals: weight each by its share of the "
                            "predictions, so that a bin of 3 predictions counts less than a bin of 300."))
        overall = expected_calibration_error(logits, labels, n_bins=1)
        if _close(value.abs(), overall):
            raise Mistake(_("that is the gap over all predictions at once: take |accuracy − confidence| "
                            "bin by bin, or over- and under-confident bins cancel."))
        raise Mistake(_("{call} gives {value:.4f}, expected_calibration_error {expected:.4f}: the confidence is "
                        "the largest softmax probability, right when its class is the label.").format(
            call=call, value=float(value), expected=expected))
    return right(_("your ECE equals expected_calibration_error with 10 and with 4 bins, on predictions "
                   "over-confident in some bins and under-confident in others."))


# --- 3. one AdamW step -------------------------------------------------------------------------

LR, WEIGHT_DECAY, BETAS, EPS, STEPS = 0.05, 0.1, (0.9, 0.999), 1e-8, 5


def _torch_steps(optimizer_class: type[torch.optim.Adam] | type[torch.optim.AdamW], w: torch.Tensor,
                 grads: list[torch.Tensor], weight_decay: float) -> list[torch.Tensor]:
    """The weights after each step of ``optimizer_class`` fed the gradients ``grads``."""
    param = torch.nn.Parameter(w.clone())
    optimizer = optimizer_class([param], lr=LR, betas=BETAS, eps=EPS, weight_decay=weight_decay)
    path = []
    for grad in grads:
        param.grad = grad.clone()
        optimizer.step()
        path.append(param.detach().clone())
    return path


def _adam_by_hand(w: torch.Tensor, grads: list[torch.Tensor], *, bias_correction: bool = True,
                  decay_factor: float = LR * WEIGHT_DECAY, decay_after: bool = False) -> list[torch.Tensor]:
    """AdamW's steps written out with one of the typical mistakes, for recognising it."""
    (beta1, beta2), m, v, path = BETAS, torch.zeros_like(w), torch.zeros_like(w), []
    for t, grad in enumerate(grads, start=1):
        m, v = beta1 * m + (1 - beta1) * grad, beta2 * v + (1 - beta2) * grad**2
        m_hat, v_hat = (m / (1 - beta1**t), v / (1 - beta2**t)) if bias_correction else (m, v)
        if not decay_after:
            w = w * (1 - decay_factor)
        w = w - LR * m_hat / (v_hat.sqrt() + EPS)
        if decay_after:
            w = w * (1 - decay_factor)
        path.append(w)
    return path


def _same_path(path: list[torch.Tensor], other: list[torch.Tensor]) -> bool:
    return all(_same_step(a, b) for a, b in zip(path, other, strict=True))


def _same_step(w: torch.Tensor, other: torch.Tensor) -> bool:
    return torch.allclose(w, other, rtol=1e-5, atol=1e-6)


@checker
def check_adamw_step(adamw_step: Callable[..., object]) -> Verdict:
    """Check ``adamw_step(w, grad, m, v, t, lr, weight_decay)`` → ``(w, m, v)`` over five steps
    against ``torch.optim.AdamW`` (betas (0.9, 0.999), eps 1e-8)."""
    generator = torch.Generator().manual_seed(0)
    w0 = torch.randn(6, generator=generator)
    grads = [torch.randn(6, generator=generator) for _step in range(STEPS)]
    expected = _torch_steps(torch.optim.AdamW, w0, grads, WEIGHT_DECAY)
    w, m, v, path = w0.clone(), torch.zeros(6), torch.zeros(6), []
    for t, grad in enumerate(grads, start=1):
        call = f"adamw_step(w, grad, m, v, t={t}, lr={LR}, weight_decay={WEIGHT_DECAY})"
        result = attempt(adamw_step, w.clone(), grad.clone(), m.clone(), v.clone(), t, LR, WEIGHT_DECAY,
                         call=call)
        if not (isinstance(result, tuple) and len(result) == 3
                and all(isinstance(x, torch.Tensor) for x in result)):
            raise Mistake(_("{call} must return the three tensors (w, m, v): the next step starts from "
                            "m and v.").format(call=call))
        w, m, v = (x.detach() for x in result)
        if w.shape != w0.shape:
            raise Mistake(_("{call} returned w of shape {shape}: the weights keep their shape {expected}.").format(
                call=call, shape=tuple(w.shape), expected=tuple(w0.shape)))
        path.append(w)
    if _same_path(path, expected):
        return right(_("five steps equal torch.optim.AdamW's: the weights shrink by lr·λ·w, outside "
                       "Adam's division by √v̂."))
    if _same_path(path, _torch_steps(torch.optim.Adam, w0, grads, WEIGHT_DECAY)):
        raise Mistake(_("you add λ·w to the gradient: that is Adam's L2 term, which Adam then divides by "
                        "√v̂; AdamW shrinks the weights, w ← w − lr·λ·w, apart from the gradient's step."))
    if _same_path(path, _torch_steps(torch.optim.AdamW, w0, grads, 0.0)):
        raise Mistake(_("your weights do not decay: with weight_decay λ, AdamW first shrinks them, "
                        "w ← w − lr·λ·w."))
    if _same_path(path, _adam_by_hand(w0, grads, decay_factor=WEIGHT_DECAY)):
        raise Mistake(_("you shrink the weights by λ·w each step: the decay is scaled by the rate, "
                        "w ← w − lr·λ·w."))
    if _same_path(path, _adam_by_hand(w0, grads, bias_correction=False)):
        raise Mistake(_("without bias correction the first steps are wrong (m and v start at 0): divide "
                        "m by 1 − β1^t and v by 1 − β2^t."))
    if _same_path(path, _adam_by_hand(w0, grads, decay_after=True)):
        raise Mistake(_("you shrink the weights after Adam's step: AdamW shrinks the weights it starts "
                        "from, w ← w − lr·λ·w − lr·m̂/(√v̂ + ε)."))
    if _same_step(path[0], expected[0]):
        raise Mistake(_("your first step is right but the later ones are not: return the updated m and v, "
                        "and use t in the bias correction."))
    raise Mistake(_("after step 1 your weights differ from torch.optim.AdamW's by up to {difference:.2g}: "
                    "compare your step with the formulas.").format(
        difference=float((path[0] - expected[0]).abs().max())))
