"""Calibration: do the predicted probabilities mean what they say?

A classifier is *calibrated* when, of all the images it labels with 80 % confidence, 80 %
are right. Accuracy does not tell: a network can be right as often as another and still be
over-confident. Three tools:

- :func:`reliability`: sort predictions into confidence bins and compare, bin by bin, the
  mean confidence with the accuracy; :func:`reliability_diagram` draws it (a calibrated
  model lies on the diagonal).
- The **expected calibration error** (ECE): the gap between confidence and accuracy in each
  bin, weighted by the share of predictions in the bin. 0 is perfect; an always-wrong,
  always-certain model scores 1.
- **Temperature scaling** (Guo et al., 2017): divide the logits by one number ``T`` fitted on
  held-out data (minimising the negative log-likelihood). ``T > 1`` softens over-confident
  probabilities; the arg-max, hence the accuracy, does not change. Fit ``T`` on a validation
  split and measure the ECE on other data, or the improvement is measured on what was fitted.

Everything takes *logits* (the scores before softmax). Log-probabilities from the notes'
``LogSoftmax`` head work too: softmax does not change when a constant is added to every score.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["Reliability", "apply_temperature", "expected_calibration_error", "fit_temperature",
           "reliability", "reliability_diagram"]


@dataclass(frozen=True)
class Reliability:
    """Per-bin confidence and accuracy of a set of predictions (bins of equal width on [0, 1])."""

    edges: list[float]
    confidence: list[float]
    """Mean confidence of the predictions in each bin (NaN for an empty bin)."""
    accuracy: list[float]
    """Fraction right in each bin (NaN for an empty bin)."""
    counts: list[int]
    ece: float
    """Expected calibration error: sum over bins of (share of predictions) × |accuracy − confidence|."""


def _confidences(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    logits, labels = torch.as_tensor(logits).detach().float().cpu(), torch.as_tensor(labels).cpu()
    if logits.dim() != 2 or labels.dim() != 1 or logits.shape[0] != labels.shape[0]:
        raise ValueError(f"Expected logits of shape (N, classes) and labels of shape (N,), got "
                         f"{tuple(logits.shape)} and {tuple(labels.shape)}.")
    if logits.shape[0] == 0:
        raise ValueError("No predictions given: logits and labels are empty.")
    probabilities = logits.softmax(dim=1)
    confidence, predicted = probabilities.max(dim=1)
    return confidence.double(), (predicted == labels).double()


def reliability(logits: torch.Tensor, labels: torch.Tensor, *, n_bins: int = 15) -> Reliability:
    """Bin the predictions of ``logits`` (N, classes) by confidence; compare with ``labels`` (N,)."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins}.")
    confidence, correct = _confidences(logits, labels)
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)
    # bin i holds (edges[i], edges[i+1]]; a confidence of exactly 0 cannot occur (softmax > 0)
    index = (torch.bucketize(confidence, edges, right=False) - 1).clamp(0, n_bins - 1)
    counts = torch.bincount(index, minlength=n_bins)
    conf_sum = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, index, confidence)
    correct_sum = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, index, correct)
    filled = counts > 0
    mean_conf = torch.where(filled, conf_sum / counts.clamp(min=1), torch.nan)
    mean_acc = torch.where(filled, correct_sum / counts.clamp(min=1), torch.nan)
    ece = float(((correct_sum - conf_sum).abs()).sum() / len(confidence))
    return Reliability(edges=edges.tolist(), confidence=mean_conf.tolist(), accuracy=mean_acc.tolist(),
                       counts=counts.tolist(), ece=ece)


def expected_calibration_error(logits: torch.Tensor, labels: torch.Tensor, *, n_bins: int = 15) -> float:
    """The expected calibration error (0 = calibrated; see :class:`Reliability`)."""
    return reliability(logits, labels, n_bins=n_bins).ece


def reliability_diagram(result: Reliability, ax=None, *, title: str | None = None, label: str | None = None):
    """Accuracy against confidence per bin (bars), with the diagonal of perfect calibration."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(3.5, 3.5))[1]
    lefts = result.edges[:-1]
    width = result.edges[1] - result.edges[0]
    accuracy = [0.0 if a != a else a for a in result.accuracy]  # NaN (empty bin) draws nothing
    ax.bar(lefts, accuracy, width=width, align="edge", edgecolor="k", alpha=0.7,
           label=label or f"ECE {result.ece:.3f}")
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="calibrated")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy", title=title or "reliability")
    ax.legend(fontsize=8, loc="upper left")
    return ax


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``logits / temperature`` (the prediction is unchanged; the probabilities soften for T > 1)."""
    if not temperature > 0:
        raise ValueError(f"The temperature must be positive, got {temperature}.")
    return torch.as_tensor(logits) / temperature


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, *, max_iter: int = 100) -> float:
    """The temperature ``T`` that minimises the cross-entropy of ``softmax(logits / T)`` on ``labels``.

    Fit it on a validation split (not the training split, where the network is over-confident
    by construction, nor the data you report on). ``T`` is optimised as ``log T`` with L-BFGS,
    so it stays positive.
    """
    logits = torch.as_tensor(logits).detach().float().cpu()
    labels = torch.as_tensor(labels).cpu().long()
    _confidences(logits, labels)  # shape checks
    log_t = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp())
