"""fit: it learns, records one entry per epoch, survives an interrupt, resumes exactly, and
keeps frozen BatchNorm frozen. Everything runs on the CPU on tiny data, in a few seconds."""

from __future__ import annotations

import matplotlib
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils.env import run_context
from course_utils.storage.checkpoints import load_checkpoint
from course_utils.training.history import History
from course_utils.training.loop import evaluate, fit, train_mode

matplotlib.use("Agg")


def blobs(n: int, seed: int) -> TensorDataset:
    """Four well-separated Gaussian clouds in 2-D: a linearly separable 4-class problem."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[3.0, 3.0], [-3.0, 3.0], [-3.0, -3.0], [3.0, -3.0]])
    labels = torch.arange(n) % 4
    points = centres[labels] + torch.randn(n, 2, generator=g)
    return TensorDataset(points, labels)


def loaders(batch_size: int = 32):
    train = DataLoader(blobs(256, seed=1), batch_size=batch_size, shuffle=True)
    val = DataLoader(blobs(128, seed=2), batch_size=64)
    return train, val


def mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    # Dropout and BatchNorm make the run depend on the random state and on train/eval mode.
    return nn.Sequential(nn.Linear(2, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 4))


def sgd(model: nn.Module, lr: float = 0.05):
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    return optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)


class InterruptingLoader:
    """Wraps a loader and raises KeyboardInterrupt after ``after_batches`` batches of epoch ``epoch``."""

    def __init__(self, loader, epoch: int, after_batches: int = 2):
        self.loader, self.epoch, self.after = loader, epoch, after_batches
        self.epochs_started = 0

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        self.epochs_started += 1
        for i, batch in enumerate(self.loader):
            if self.epochs_started == self.epoch and i == self.after:
                raise KeyboardInterrupt
            yield batch


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_fit_learns_a_separable_problem(context):
    train, val = loaders()
    model = mlp()
    optimizer, scheduler = sgd(model)
    history = fit(model, train, val, epochs=3, optimizer=optimizer, scheduler=scheduler, progress=False, context=context)
    assert history.val_acc[-1] >= 0.95
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.best_acc == max(history.val_acc)
    assert history.val_acc[history.best_epoch - 1] == history.best_acc
    # The model returned holds the best epoch's weights: evaluating it gives the best accuracy.
    loss, acc = evaluate(model, val, context=context)
    assert acc == pytest.approx(history.best_acc)


def test_history_has_one_entry_per_epoch_and_the_notes_names(tmp_path, context):
    train, val = loaders()
    model = mlp()
    optimizer, scheduler = sgd(model, lr=0.1)
    history = fit(model, train, val, epochs=4, optimizer=optimizer, scheduler=scheduler, progress=False, context=context)
    for values in (history.train_loss, history.train_acc, history.val_loss, history.val_acc,
                   history.lr, history.epoch_seconds):
        assert len(values) == 4
    assert history.lr == [0.1, 0.1, 0.05, 0.05]  # StepLR(step_size=2, gamma=0.5), lr used in each epoch
    val_acc, train_acc, valid_losses, train_losses, lrs = history.as_notes_tuple()
    assert (val_acc, train_acc, valid_losses, train_losses, lrs) == (
        history.val_acc_history, history.train_acc_history, history.valid_losses,
        history.train_losses, history.LRs)
    # A plain-typed dict: survives torch.save / torch.load(weights_only=True).
    torch.save(history.to_dict(), tmp_path / "h.pt")
    assert History.from_dict(torch.load(tmp_path / "h.pt", weights_only=True)) == history
    figure = history.plot()
    assert [ax.get_title() for ax in figure.axes] == ["loss", "accuracy", "learning rate"]


def test_interrupt_keeps_partial_history_and_best_weights(capsys, context):
    train, val = loaders()
    # Reference: the same run, stopped normally after 2 epochs (fit loads its best weights).
    reference = mlp()
    optimizer, scheduler = sgd(reference)
    expected = fit(reference, train, val, epochs=2, optimizer=optimizer, scheduler=scheduler, progress=False, context=context)

    model = mlp()
    optimizer, scheduler = sgd(model)
    stopping = InterruptingLoader(train, epoch=3, after_batches=2)  # stop 2 batches into epoch 3
    history = fit(model, stopping, val, epochs=5, optimizer=optimizer, scheduler=scheduler, progress=False, context=context)

    assert history.interrupted
    assert history.epochs == 2
    assert history.val_acc == expected.val_acc and history.train_loss == expected.train_loss
    # The two batches of epoch 3 changed the weights; fit put the best ones back.
    assert same_weights(model.state_dict(), reference.state_dict())
    assert "Interrupted during epoch 3" in capsys.readouterr().out


def test_the_context_decides_device_and_precision(monkeypatch):
    def no_autocast(*args, **kwargs):
        raise AssertionError("autocast must not be used on the CPU")

    monkeypatch.setattr(torch, "autocast", no_autocast)
    train, val = loaders()
    model = mlp()
    optimizer, _ = sgd(model)
    history = fit(model, train, val, epochs=1, optimizer=optimizer, progress=False,
                  context=run_context(device="cpu"))
    assert history.precision == "fp32" and history.device == "cpu"


def test_patience_stops_when_validation_stops_improving_and_a_finished_run_is_not_redone(tmp_path, context):
    train, val = loaders()
    model = mlp()
    optimizer, _ = sgd(model, lr=0.0)  # nothing changes: no epoch after the first is better
    history = fit(model, train, val, epochs=10, optimizer=optimizer, patience=2, progress=False,
                  checkpoint=tmp_path / "run.pt", context=context)
    assert (history.epochs, history.best_epoch) == (3, 1)
    with pytest.raises(ValueError, match="patience"):
        fit(model, train, val, epochs=2, optimizer=optimizer, patience=0, context=context)
    # resuming a finished run trains nothing and returns its history
    first = mlp()
    finished = fit(first, train, val, epochs=3, optimizer=sgd(first)[0], checkpoint=tmp_path / "done.pt",
                   progress=False, context=context)
    second = mlp(seed=5)
    again = fit(second, InterruptingLoader(train, epoch=1, after_batches=0), val, epochs=3,
                optimizer=sgd(second)[0], checkpoint=tmp_path / "done.pt", resume=True, progress=False, context=context)
    assert again.val_acc == finished.val_acc and not again.interrupted


def test_checkpoint_holds_plain_values_and_extra(tmp_path, context):
    train, val = loaders()
    model = mlp()
    optimizer, scheduler = sgd(model)
    extra = {"model_name": "mlp", "class_names": ["ne", "nw", "sw", "se"]}
    history = fit(model, train, val, epochs=2, optimizer=optimizer, scheduler=scheduler,
                  checkpoint=tmp_path / "ck.pt", checkpoint_extra=extra, progress=False, context=context)
    checkpoint = load_checkpoint(tmp_path / "ck.pt")  # weights_only=True inside
    assert {"state_dict", "best_acc", "optimizer", "last_state_dict", "scheduler", "history",
            "epoch", "rng", "extra"} <= checkpoint.keys()
    assert checkpoint["extra"] == extra and checkpoint["epoch"] == 2
    assert checkpoint["best_acc"] == history.best_acc
    assert same_weights(checkpoint["state_dict"], model.state_dict())  # best weights, as loaded
    # Resuming with a checkpoint made for other classes is refused with a clear message.
    with pytest.raises(ValueError, match="4 class names, but you pass 2"):
        other = mlp()
        fit(other, train, val, epochs=3, optimizer=sgd(other)[0], checkpoint=tmp_path / "ck.pt",
            checkpoint_extra={"class_names": ["a", "b"]}, resume=True, progress=False, context=context)


def frozen_backbone_model() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.ReLU(),  # "backbone"
                          nn.Linear(8, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 4))  # "head"
    for p in [*model[0].parameters(), *model[1].parameters()]:
        p.requires_grad = False
    return model


def test_train_mode_keeps_frozen_batchnorm_in_eval_mode():
    model = frozen_backbone_model()
    train_mode(model)
    assert model.training and model[0].training
    assert not model[1].training  # frozen BatchNorm
    assert model[4].training  # trainable BatchNorm
    # A BatchNorm without affine parameters has nothing to freeze: it trains normally.
    plain = nn.Sequential(nn.BatchNorm1d(3, affine=False))
    assert train_mode(plain)[0].training


def test_fit_leaves_frozen_batchnorm_statistics_alone(context):
    model = frozen_backbone_model()
    frozen_before = {k: v.clone() for k, v in model[1].state_dict().items()}
    trainable_before = model[4].running_mean.clone()
    train, val = loaders()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05)
    fit(model, train, val, epochs=2, optimizer=optimizer, progress=False, context=context)
    assert same_weights(model[1].state_dict(), frozen_before)
    assert not torch.equal(model[4].running_mean, trainable_before)


def test_fit_explains_bad_arguments(context):
    train, val = loaders()
    model, other = mlp(), mlp()
    with pytest.raises(ValueError, match="holds none of this model's parameters"):
        fit(model, train, val, epochs=1, optimizer=sgd(other)[0], progress=False, context=context)
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        fit(model, train, val, epochs=0, optimizer=sgd(model)[0], progress=False, context=context)
    with pytest.raises(ValueError, match="resume=True needs checkpoint"):
        fit(model, train, val, epochs=1, optimizer=sgd(model)[0], resume=True, progress=False, context=context)
