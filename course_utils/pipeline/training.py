"""The course's training loop: :func:`fit` trains a classifier and returns a :class:`History`.

It is the notes' ``train_model`` grown up. Each epoch has a training phase and a validation
phase; the loss, the accuracy and the learning rate are recorded per epoch; the weights of
the best validation epoch are kept and loaded at the end. On top of that:

- the device is chosen for you (CUDA, then Apple MPS, then the CPU) unless you pass one;
- on CUDA it trains in mixed precision (bfloat16 where the GPU has it, float16 with a gradient
  scaler otherwise); on CUDA and on the CPU, a network with convolutions gets ``channels_last``
  images (pixels stored channel by channel, the layout fast convolution kernels want: measured
  1.2-1.4x faster on a laptop CPU too, see benchmarks/RESULTS.md);
- with ``checkpoint=`` it saves a resumable checkpoint after every epoch, and ``resume=True``
  continues from it with exactly the history an uninterrupted run would have had;
- pressing *stop* (``KeyboardInterrupt``) ends the run cleanly: you get the history so far and
  the best weights, instead of losing everything.

Reading order for a learner: :func:`fit`, then :func:`_run_phase` (one pass over a loader).
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from course_utils.env import get_device, seed_everything
from course_utils.storage.checkpoints import check_compatible, load_checkpoint, save_checkpoint

__all__ = ["History", "amp_dtype", "evaluate", "fit", "train_mode"]

CHECKPOINT_FORMAT = "course_utils.fit/1"
"""Written into every checkpoint ``fit`` saves, so a reader knows which keys to expect."""

_REFRESH_SECONDS = 0.5
"""How often the batch progress bar shows a new loss/accuracy (each refresh costs a sync)."""

_BATCH_SCHEDULERS = (torch.optim.lr_scheduler.OneCycleLR, torch.optim.lr_scheduler.CyclicLR)
"""Schedulers that are meant to step after every batch rather than every epoch."""


# --------------------------------------------------------------------------------------
# The history of a run
# --------------------------------------------------------------------------------------


@dataclass
class History:
    """What :func:`fit` measured, one entry per completed epoch.

    The notes' ``train_model`` returned five lists; they are here under their old names too
    (``history.val_acc_history``, ``history.LRs``…, or all five with :meth:`as_notes_tuple`).
    """

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    """The learning rate used during each epoch (of the optimizer's first parameter group)."""
    epoch_seconds: list[float] = field(default_factory=list)
    best_acc: float = 0.0
    """The best validation accuracy so far (a fraction, 0 to 1)."""
    best_epoch: int = 0
    """The epoch (counted from 1) that reached ``best_acc``; 0 before the first epoch ends."""
    interrupted: bool = False
    """True when the run was stopped by a KeyboardInterrupt before its last epoch."""
    device: str = ""
    precision: str = "fp32"
    """``"fp32"``, or ``"bf16"``/``"fp16"`` when mixed precision was used."""

    @property
    def epochs(self) -> int:
        """How many epochs completed."""
        return len(self.train_loss)

    # The names the notes use ------------------------------------------------------------
    @property
    def val_acc_history(self) -> list[float]:
        return self.val_acc

    @property
    def train_acc_history(self) -> list[float]:
        return self.train_acc

    @property
    def valid_losses(self) -> list[float]:
        return self.val_loss

    @property
    def train_losses(self) -> list[float]:
        return self.train_loss

    @property
    def LRs(self) -> list[float]:  # the notes spell it this way
        return self.lr

    def as_notes_tuple(self) -> tuple[list[float], list[float], list[float], list[float], list[float]]:
        """``(val_acc_history, train_acc_history, valid_losses, train_losses, LRs)``, as in the notes."""
        return self.val_acc, self.train_acc, self.val_loss, self.train_loss, self.lr

    # Saving ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain Python values only, so a checkpoint holding it loads with ``weights_only=True``."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = [float(v) for v in value] if isinstance(value, list) else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> History:
        """The inverse of :meth:`to_dict`."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"Not a History: unexpected keys {sorted(unknown)}; expected some of {sorted(known)}.")
        kwargs = {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in data.items()}
        return cls(**kwargs)

    # Reading -----------------------------------------------------------------------------
    def summary(self) -> str:
        """One line: epochs, best validation accuracy and where, last losses."""
        if not self.epochs:
            return "no complete epoch" + (" (interrupted)" if self.interrupted else "")
        text = (
            f"{self.epochs} epoch{'s' if self.epochs != 1 else ''}: best val acc "
            f"{self.best_acc:.3f} at epoch {self.best_epoch}; last train loss "
            f"{self.train_loss[-1]:.4f}, val loss {self.val_loss[-1]:.4f}"
        )
        return text + (" (interrupted)" if self.interrupted else "")

    def plot(self, title: str | None = None):
        """Draw loss, accuracy and learning-rate curves side by side; returns the figure.

        In a notebook: ``_ = history.plot()`` then ``plt.show()``.
        """
        import matplotlib.pyplot as plt

        fig, (ax_loss, ax_acc, ax_lr) = plt.subplots(1, 3, figsize=(13, 3.4))
        x = list(range(1, self.epochs + 1))
        ax_loss.plot(x, self.train_loss, "o-", label="train")
        ax_loss.plot(x, self.val_loss, "o-", label="validation")
        ax_loss.set(title="loss", xlabel="epoch")
        ax_acc.plot(x, self.train_acc, "o-", label="train")
        ax_acc.plot(x, self.val_acc, "o-", label="validation")
        if self.best_epoch:
            ax_acc.plot([self.best_epoch], [self.best_acc], "k*", markersize=12, label="best")
        ax_acc.set(title="accuracy", xlabel="epoch")
        ax_lr.step(x, self.lr, where="post", color="tab:green")
        positive = [v for v in self.lr if v > 0]
        if positive and max(positive) / min(positive) >= 10:
            ax_lr.set_yscale("log")
        ax_lr.set(title="learning rate", xlabel="epoch")
        for ax in (ax_loss, ax_acc):
            ax.legend()
        for ax in (ax_loss, ax_acc, ax_lr):
            ax.grid(alpha=0.3)
            if x:
                ax.set_xticks(x if len(x) <= 12 else x[:: math.ceil(len(x) / 12)])
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        return fig

    def _record(self, train: tuple[float, float], val: tuple[float, float], lr: float, seconds: float) -> None:
        self.train_loss.append(train[0])
        self.train_acc.append(train[1])
        self.val_loss.append(val[0])
        self.val_acc.append(val[1])
        self.lr.append(lr)
        self.epoch_seconds.append(seconds)


# --------------------------------------------------------------------------------------
# Small public pieces
# --------------------------------------------------------------------------------------


def train_mode(model: nn.Module) -> nn.Module:
    """``model.train()``, except that frozen BatchNorm layers stay in evaluation mode.

    A BatchNorm layer in training mode updates its running mean and variance from every
    batch, even when its weights are frozen (``requires_grad=False``). When you freeze a
    pretrained backbone you want its statistics frozen too, so every BatchNorm layer whose
    parameters *all* have ``requires_grad=False`` is put back in ``eval()`` mode. Returns
    ``model``.
    """
    model.train()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            params = list(module.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                module.eval()
    return model


def amp_dtype(device: torch.device | str, amp: bool | None = None) -> torch.dtype | None:
    """The autocast dtype ``fit`` uses on ``device``, or None for full float32.

    ``amp=None`` (auto) turns mixed precision on for CUDA only: bfloat16 where the GPU
    supports it (no gradient scaler needed), float16 otherwise. On the CPU and on Apple's MPS
    it is off; asking for it there (``amp=True``) is an error.
    """
    device = torch.device(device)
    if amp is False:
        return None
    if device.type != "cuda":
        if amp:
            raise ValueError(
                f"amp=True needs a CUDA GPU, but training runs on {device.type!r}. "
                "Leave amp=None (mixed precision is then used on CUDA only) or pass amp=False."
            )
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def evaluate(
    model: nn.Module,
    loader: Iterable,
    *,
    criterion: nn.Module | None = None,
    device: torch.device | str | None = None,
    amp: bool | None = None,
    channels_last: bool | None = None,
    progress: bool = False,
) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on ``loader`` (evaluation mode, no gradients)."""
    device = _resolve_device(device)
    dtype = amp_dtype(device, amp)
    use_channels_last = _want_channels_last(model, device, channels_last)
    model.to(device, memory_format=torch.channels_last if use_channels_last else torch.preserve_format)
    criterion = (criterion or nn.CrossEntropyLoss()).to(device)
    model.eval()
    with tqdm(total=_length(loader), desc="evaluate", leave=False, disable=not progress) as bar:
        return _run_phase(model, loader, criterion, train=False, device=device, dtype=dtype,
                          channels_last=use_channels_last, bar=bar)


# --------------------------------------------------------------------------------------
# The training loop
# --------------------------------------------------------------------------------------


def fit(
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable,
    *,
    epochs: int,
    optimizer: torch.optim.Optimizer,
    scheduler: Any | None = None,
    criterion: nn.Module | None = None,
    device: torch.device | str | None = None,
    amp: bool | None = None,
    channels_last: bool | None = None,
    compile: bool = False,
    checkpoint: str | Path | None = None,
    checkpoint_extra: Mapping[str, Any] | None = None,
    resume: bool = False,
    seed: int | None = 0,
    progress: bool = True,
    patience: int | None = None,
) -> History:
    """Train ``model`` for ``epochs`` epochs; return the :class:`History` with the best weights loaded.

    Each epoch: training phase on ``train_loader`` (which yields ``(inputs, class_indices)``),
    validation phase on ``val_loader``, then one ``scheduler.step()`` (``OneCycleLR`` and
    ``CyclicLR`` step after every batch; ``ReduceLROnPlateau`` gets the validation loss).

    - ``criterion``: defaults to ``nn.CrossEntropyLoss()`` (the model outputs raw scores);
      pass ``nn.NLLLoss()`` for a model that ends in ``LogSoftmax``, as in the notes.
    - ``device``: None picks CUDA, then MPS, then the CPU (``COURSE_DEVICE`` overrides);
      the model is moved there (the optimizer keeps working: it holds the same parameters).
    - ``amp``: mixed precision; None means on for CUDA only (see :func:`amp_dtype`).
    - ``channels_last``: None means on (CUDA and CPU, not Apple MPS) when the model has 2-D
      convolutions.
    - ``compile``: ``torch.compile`` the model in place (``model.compile()``) before training.
      The first epoch pays for the compilation (minutes on a CPU); it pays off on a GPU over
      several epochs.
    - ``checkpoint``: a path; after every epoch a resumable checkpoint is written there
      atomically (keys listed in :func:`_checkpoint_state`). ``checkpoint_extra`` (model name,
      class names, transform settings…: plain values only) is stored under ``"extra"``.
    - ``resume``: continue from ``checkpoint`` if the file exists (else start afresh).
    - ``seed``: Python, NumPy and PyTorch are reseeded with ``seed + epoch`` at the start of
      each epoch, so a resumed run ends with exactly the history of an uninterrupted one
      (bit for bit on the CPU). None leaves the random generators alone.
    - ``progress``: nested progress bars (epochs, batches) and one line per epoch.
    - ``patience``: early stopping. Stop once ``patience`` epochs in a row have not improved on
      the best validation accuracy (``epochs`` is then a ceiling); None trains every epoch.

    Pressing stop (``KeyboardInterrupt``) ends training: the best weights so far are loaded,
    ``history.interrupted`` is True, and the checkpoint on disk is the last complete epoch.
    """
    _check_fit_arguments(model, train_loader, val_loader, epochs, optimizer, checkpoint, resume)
    device = _resolve_device(device)
    dtype = amp_dtype(device, amp)
    use_channels_last = _want_channels_last(model, device, channels_last)
    criterion = (criterion or nn.CrossEntropyLoss()).to(device)
    model.to(device, memory_format=torch.channels_last if use_channels_last else torch.preserve_format)
    if compile:
        model.compile()  # in place: the state_dict keeps its names, so checkpoints are unchanged
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    per_batch = isinstance(scheduler, _BATCH_SCHEDULERS)
    extra = dict(checkpoint_extra or {})

    history = History(device=str(device), precision=_precision_name(dtype))
    best_state: dict[str, torch.Tensor] | None = None
    start = 0
    if resume and checkpoint is not None and Path(checkpoint).is_file():
        state = load_checkpoint(checkpoint)
        _check_resumable(state, checkpoint, extra)
        _load_weights(model, state["last_state_dict"], checkpoint)
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state.get("scaler") is not None:
            scaler.load_state_dict(state["scaler"])
        history = History.from_dict(state["history"])
        history.device, history.precision, history.interrupted = str(device), _precision_name(dtype), False
        best_state = state["state_dict"]
        start = int(state["epoch"])
        _set_rng_state(state.get("rng"))
        if progress:
            tqdm.write(f"Resuming from {checkpoint}: {start} epoch(s) done, best val acc "
                       f"{history.best_acc:.3f} (epoch {history.best_epoch}).")

    epoch_bar = tqdm(total=epochs, initial=min(start, epochs), desc="epochs", unit="epoch",
                     disable=not progress)
    batch_bar = tqdm(total=0, desc="batches", unit="batch", leave=False, disable=not progress)
    epoch = start
    try:
        for epoch in range(start, epochs):
            if seed is not None:
                _reseed(seed + epoch, train_loader, val_loader)
            lr = float(optimizer.param_groups[0]["lr"])
            started = time.perf_counter()

            train_mode(model)
            batch_bar.reset(total=_length(train_loader))
            batch_bar.set_description(f"epoch {epoch + 1} train")
            train_metrics = _run_phase(
                model, train_loader, criterion, train=True, device=device, dtype=dtype,
                channels_last=use_channels_last, bar=batch_bar, optimizer=optimizer,
                scaler=scaler, scheduler=scheduler if per_batch else None,
            )
            model.eval()
            batch_bar.reset(total=_length(val_loader))
            batch_bar.set_description(f"epoch {epoch + 1} valid")
            val_metrics = _run_phase(
                model, val_loader, criterion, train=False, device=device, dtype=dtype,
                channels_last=use_channels_last, bar=batch_bar,
            )
            if scheduler is not None and not per_batch:
                if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    scheduler.step(val_metrics[0])
                else:
                    scheduler.step()
            seconds = time.perf_counter() - started

            if history.best_epoch == 0 or val_metrics[1] > history.best_acc:
                best_state = _cpu_copy(model.state_dict())
                history.best_acc, history.best_epoch = val_metrics[1], epoch + 1
            history._record(train_metrics, val_metrics, lr, seconds)
            if checkpoint is not None:
                save_checkpoint(checkpoint, _checkpoint_state(
                    model, optimizer, scheduler, scaler, history, best_state, epoch + 1, epochs, seed, extra))

            epoch_bar.update(1)
            epoch_bar.set_postfix(train_loss=f"{train_metrics[0]:.4f}", val_acc=f"{val_metrics[1]:.3f}")
            if progress:
                tqdm.write(
                    f"epoch {epoch + 1}/{epochs}  train loss {train_metrics[0]:.4f} acc "
                    f"{train_metrics[1]:.3f} | val loss {val_metrics[0]:.4f} acc "
                    f"{val_metrics[1]:.3f} | lr {lr:.3g} | {seconds:.1f}s"
                )
            if patience is not None and epoch + 1 - history.best_epoch >= patience:
                epoch_bar.total = epoch + 1  # a finished bar, not one frozen below 100 %
                epoch_bar.refresh()
                if progress:
                    tqdm.write(f"no improvement for {patience} epoch(s): stopped after epoch {epoch + 1}, "
                               f"best was epoch {history.best_epoch}")
                break
    except KeyboardInterrupt:
        history.interrupted = True
        kept = f"best weights (epoch {history.best_epoch}, val acc {history.best_acc:.3f}) loaded" \
            if best_state is not None else "no epoch completed, so the weights are as the interruption left them"
        print(f"Interrupted during epoch {epoch + 1}: kept the history of {history.epochs} complete "
              f"epoch(s); {kept}.")
    finally:
        batch_bar.close()
        epoch_bar.close()

    if best_state is not None:
        model.load_state_dict(best_state)
    return history


def _run_phase(
    model: nn.Module,
    loader: Iterable,
    criterion: nn.Module,
    *,
    train: bool,
    device: torch.device,
    dtype: torch.dtype | None,
    channels_last: bool,
    bar: Any,
    optimizer: torch.optim.Optimizer | None = None,
    scaler: torch.amp.GradScaler | None = None,
    scheduler: Any | None = None,
) -> tuple[float, float]:
    """One pass over ``loader``: mean loss and accuracy (training updates the weights).

    The sums stay on the device (no ``.item()`` per batch, which would make the CPU wait for
    the GPU every step); the progress bar reads them at most every half second.
    """
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    last_refresh = time.perf_counter()
    bar.set_postfix_str("", refresh=False)
    grad_mode = contextlib.nullcontext() if train else torch.inference_mode()
    with grad_mode:
        for batch in loader:
            inputs, targets = _unpack(batch)
            inputs = _to_device(inputs, device, channels_last)
            targets = targets.to(device, non_blocking=True)
            with _autocast(device, dtype):
                outputs = model(inputs)
                logits, loss = _loss(criterion, outputs, targets)
            if train:
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    optimizer.step()
                if scheduler is not None:
                    scheduler.step()
            n = targets.shape[0]
            seen += n
            loss_sum += loss.detach().float() * n
            correct += (logits.detach().argmax(dim=1) == targets).sum()
            bar.update(1)
            if not bar.disable and time.perf_counter() - last_refresh > _REFRESH_SECONDS:
                bar.set_postfix(loss=f"{loss_sum.item() / seen:.4f}", acc=f"{correct.item() / seen:.3f}")
                last_refresh = time.perf_counter()
    if seen == 0:
        raise ValueError(
            f"The {'training' if train else 'validation'} loader yielded no batches. Check the "
            "data set is not empty (and drop_last=False when it is smaller than a batch)."
        )
    mean_loss, accuracy = loss_sum.item() / seen, correct.item() / seen
    bar.set_postfix(loss=f"{mean_loss:.4f}", acc=f"{accuracy:.3f}")
    return mean_loss, accuracy


# --------------------------------------------------------------------------------------
# Helpers of fit (private)
# --------------------------------------------------------------------------------------


def _checkpoint_state(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any | None,
    scaler: torch.amp.GradScaler | None,
    history: History,
    best_state: Mapping[str, torch.Tensor] | None,
    epoch: int,
    epochs: int,
    seed: int | None,
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    """What ``fit`` saves after each epoch.

    ``state_dict`` is the best weights (what you load to predict, as in the notes);
    ``last_state_dict``, ``optimizer``, ``scheduler``, ``scaler``, ``rng`` and ``epoch`` are
    what resuming needs; ``history`` is :meth:`History.to_dict`; ``extra`` is
    ``checkpoint_extra``.
    """
    return {
        "format": CHECKPOINT_FORMAT,
        "epoch": epoch,
        "epochs": epochs,
        "state_dict": dict(best_state) if best_state is not None else None,
        "best_acc": float(history.best_acc),
        "best_epoch": int(history.best_epoch),
        "last_state_dict": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "history": history.to_dict(),
        "seed": seed,
        "rng": _rng_state(),
        "extra": dict(extra),
    }


def _check_fit_arguments(model, train_loader, val_loader, epochs, optimizer, checkpoint, resume) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    for name, loader in (("train_loader", train_loader), ("val_loader", val_loader)):
        if loader is None or not hasattr(loader, "__iter__"):
            raise TypeError(f"{name} must be a DataLoader (or any iterable of (inputs, targets) batches), got {loader!r}.")
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}.")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer must be a torch.optim optimizer, e.g. torch.optim.SGD(model.parameters(), lr=0.01); "
            f"got {type(optimizer).__name__}."
        )
    model_params = {id(p) for p in model.parameters()}
    optimized = [p for group in optimizer.param_groups for p in group["params"]]
    if not any(id(p) in model_params for p in optimized):
        raise ValueError(
            "The optimizer holds none of this model's parameters, so training would change nothing. "
            "Create the optimizer from this model after building it: optimizer = "
            "torch.optim.SGD(model.parameters(), lr=...)."
        )
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=<path of the checkpoint to continue from>.")


def _check_resumable(state: Mapping[str, Any], path: str | Path, extra: Mapping[str, Any]) -> None:
    missing = [k for k in ("last_state_dict", "optimizer", "history", "epoch") if k not in state]
    if missing:
        raise ValueError(
            f"{path} is not a checkpoint written by fit (it lacks {missing}); it cannot be resumed. "
            "Pass resume=False to start afresh (the file will be overwritten)."
        )
    wanted = {k: extra[k] for k in ("model_name", "num_classes", "class_names") if k in extra}
    if wanted:
        check_compatible(state, **wanted)


def _load_weights(model: nn.Module, weights: Mapping[str, torch.Tensor], path: str | Path) -> None:
    """``model.load_state_dict(weights)``, with an error that says what to do when they do not fit."""
    try:
        model.load_state_dict(weights)
    except RuntimeError as error:  # PyTorch lists the missing, unexpected and mis-shaped tensors
        details = str(error).split(":", 1)[-1].strip()
        raise ValueError(
            f"{path} holds weights for another model (another architecture or number of classes): "
            f"{details} Resume only with the model it was trained with, or pass resume=False to "
            "start afresh (the file will be overwritten)."
        ) from error


def _resolve_device(device: torch.device | str | None) -> torch.device:
    return get_device() if device is None else get_device(prefer=str(device))


def _want_channels_last(model: nn.Module, device: torch.device, channels_last: bool | None) -> bool:
    if channels_last is not None:
        return bool(channels_last)
    return device.type in {"cuda", "cpu"} and any(isinstance(m, nn.Conv2d) for m in model.modules())


def _precision_name(dtype: torch.dtype | None) -> str:
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def _autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _unpack(batch: Any) -> tuple[Any, torch.Tensor]:
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    raise ValueError(
        f"Each batch must be a pair (inputs, targets), as a DataLoader over an image data set "
        f"yields; got a {type(batch).__name__}"
        + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else "") + "."
    )


def _to_device(inputs: Any, device: torch.device, channels_last: bool) -> Any:
    if isinstance(inputs, torch.Tensor):
        if channels_last and inputs.dim() == 4:
            return inputs.to(device, non_blocking=True, memory_format=torch.channels_last)
        return inputs.to(device, non_blocking=True)
    if isinstance(inputs, (tuple, list)):
        return type(inputs)(_to_device(x, device, channels_last) for x in inputs)
    raise TypeError(f"Inputs must be a tensor (or a tuple of tensors), got {type(inputs).__name__}.")


def _loss(criterion: Callable, outputs: Any, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss and the logits used for accuracy.

    Inception-v3 returns ``(logits, aux_logits)`` in training mode: its auxiliary classifier
    counts 0.4 times, as in the notes (``loss1 + 0.4 * loss2``).
    """
    aux = getattr(outputs, "aux_logits", None)
    logits = getattr(outputs, "logits", outputs)
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"The model returned a {type(outputs).__name__}; fit expects a tensor of class scores.")
    if logits.dim() != 2:
        raise ValueError(
            f"The model's output has shape {tuple(logits.shape)}; fit trains classifiers whose output "
            "is (batch, classes). Did you forget to flatten before the last Linear layer?"
        )
    loss = criterion(logits, targets)
    if aux is not None:
        loss = loss + 0.4 * criterion(aux, targets)
    return logits, loss


def _cpu_copy(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


def _length(loader: Iterable) -> int | None:
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:
        return None


def _reseed(seed: int, *loaders: Iterable) -> None:
    """Seed every random generator an epoch uses, including a loader's own generator."""
    seed_everything(seed)
    for loader in loaders:
        for owner in (loader, getattr(loader, "sampler", None)):
            generator = getattr(owner, "generator", None)
            if isinstance(generator, torch.Generator):
                generator.manual_seed(seed)


def _rng_state() -> dict[str, Any]:
    """The random generators' states as tensors and plain values (weights_only-loadable)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {
        "python": {"version": version, "state": list(internal), "gauss_next": gauss_next},
        "numpy": {"name": str(name), "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _set_rng_state(state: Mapping[str, Any] | None) -> None:
    if not state:
        return
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss_next"]))
    npy = state["numpy"]
    np.random.set_state((npy["name"], npy["keys"].numpy().astype(np.uint32), npy["pos"],
                         npy["has_gauss"], npy["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
