"""Calibration helpers against cases whose answer is known."""

from __future__ import annotations

import math

import pytest
import torch

from course_utils.analysis.calibration import (
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    reliability,
)


def _two_class_logits(confidence: float, n: int) -> torch.Tensor:
    """n predictions of class 0 with the given softmax confidence."""
    margin = math.log(confidence / (1 - confidence))
    return torch.tensor([[margin, 0.0]]).repeat(n, 1)


def test_perfectly_calibrated_toy_has_ece_zero():
    # 10 predictions at 80 % confidence, 8 right; 10 at 60 %, 6 right
    logits = torch.cat([_two_class_logits(0.8, 10), _two_class_logits(0.6, 10)])
    labels = torch.tensor([0] * 8 + [1] * 2 + [0] * 6 + [1] * 4)
    assert expected_calibration_error(logits, labels, n_bins=10) == pytest.approx(0.0, abs=1e-6)  # float32 softmax


def test_confident_and_always_wrong_has_ece_one():
    logits = torch.tensor([[50.0, 0.0]]).repeat(7, 1)
    labels = torch.ones(7, dtype=torch.long)
    assert expected_calibration_error(logits, labels) == pytest.approx(1.0, abs=1e-9)


def test_over_confident_by_a_known_gap():
    # 90 % confidence, 60 % right: ECE 0.3; the bins record it
    logits = _two_class_logits(0.9, 10)
    labels = torch.tensor([0] * 6 + [1] * 4)
    result = reliability(logits, labels, n_bins=10)
    assert result.ece == pytest.approx(0.3, abs=1e-6)
    assert sum(result.counts) == 10 and result.counts[8] == 10  # 0.9 falls in (0.8, 0.9]
    assert result.accuracy[8] == pytest.approx(0.6) and result.confidence[8] == pytest.approx(0.9)
    assert math.isnan(result.accuracy[0])


@pytest.mark.parametrize("true_t", [0.5, 2.0, 3.0])
def test_temperature_scaling_recovers_a_known_temperature(true_t):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(20_000, 5, generator=g) * 3
    labels = torch.multinomial((logits / true_t).softmax(dim=1), 1, generator=g).squeeze(1)
    fitted = fit_temperature(logits, labels)
    assert fitted == pytest.approx(true_t, rel=0.05)
    before = expected_calibration_error(logits, labels)
    after = expected_calibration_error(apply_temperature(logits, fitted), labels)
    assert after < before and after < 0.02
    assert torch.equal(apply_temperature(logits, fitted).argmax(1), logits.argmax(1))


def test_bad_input_says_what_is_expected():
    with pytest.raises(ValueError, match=r"\(N, classes\)"):
        expected_calibration_error(torch.zeros(4), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="positive"):
        apply_temperature(torch.zeros(2, 2), 0.0)
