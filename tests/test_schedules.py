"""Optimizers by name and the rates of each schedule."""

from __future__ import annotations

import pytest
import torch

from course_utils.training.schedules import (
    OPTIMIZERS,
    make_optimizer,
    make_schedule,
    schedule_rates,
)


def test_every_optimizer_by_name():
    kinds = {name: type(make_optimizer(name, [torch.nn.Parameter(torch.zeros(1))], 0.1)).__name__
             for name in OPTIMIZERS}
    assert kinds == {"sgd": "SGD", "momentum": "SGD", "nesterov": "SGD", "rmsprop": "RMSprop",
                     "adam": "Adam", "adamw": "AdamW"}
    nesterov = make_optimizer("nesterov", [torch.nn.Parameter(torch.zeros(1))], 0.1)
    assert nesterov.param_groups[0]["nesterov"] and nesterov.param_groups[0]["momentum"] == 0.9
    with pytest.raises(ValueError, match="choose one of"):
        make_optimizer("adagrad", [], 0.1)


def test_weight_decay_is_pytorchs_default_unless_given():
    def decay(name, **kw):
        return make_optimizer(name, [torch.nn.Parameter(torch.zeros(1))], 0.1, **kw).param_groups[0]["weight_decay"]

    # asked for nothing: each optimizer as PyTorch builds it (AdamW decays by 0.01, the others not at all)
    assert {name: decay(name) for name in OPTIMIZERS} == {"sgd": 0, "momentum": 0, "nesterov": 0, "rmsprop": 0,
                                                          "adam": 0, "adamw": 0.01}
    assert decay("adamw") == torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))]).defaults["weight_decay"]
    # asked for a number: that number, for every optimizer, 0.0 included
    assert {name: decay(name, weight_decay=0.0) for name in OPTIMIZERS} == dict.fromkeys(OPTIMIZERS, 0.0)
    assert {name: decay(name, weight_decay=0.1) for name in OPTIMIZERS} == dict.fromkeys(OPTIMIZERS, 0.1)
    with pytest.raises(ValueError, match="weight_decay must be 0 or more"):
        make_optimizer("adam", [torch.nn.Parameter(torch.zeros(1))], 0.1, weight_decay=-1e-3)


def test_rates_per_epoch():
    def rates(name, **kw):
        return [round(r, 4) for r in schedule_rates(lambda o: make_schedule(name, o, epochs=6, **kw), 6)]

    assert rates("constant") == [1.0] * 6
    assert rates("step") == [1.0] * 4 + [0.1] * 2
    assert rates("cosine") == [1.0, 0.933, 0.75, 0.5, 0.25, 0.067]
    assert rates("warmup-cosine", warmup_epochs=1) == [0.1, 1.0, 0.9045, 0.6545, 0.3455, 0.0955]


def test_one_cycle_rises_then_falls():
    rates = schedule_rates(lambda o: make_schedule("one-cycle", o, epochs=2, steps_per_epoch=50), 100)
    peak = rates.index(max(rates))
    assert rates[0] == pytest.approx(1 / 25) and max(rates) == pytest.approx(1.0)
    assert 25 <= peak <= 35 and rates[-1] < 1e-3
    with pytest.raises(ValueError, match="steps_per_epoch"):
        make_schedule("one-cycle", torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1), epochs=2)
