"""The course's training loop: :func:`fit` trains a classifier and returns a :class:`History`.

It is the notes' ``train_model`` grown up. Each epoch has a training phase and a validation
phase; the loss, the accuracy and the learning rate are recorded per epoch; the weights of
the best validation epoch are kept and loaded at the end. On top of that:

- the device, the precision and the memory layout come from the run context
  (:func:`course_utils.env.run_context`: CUDA, then Apple MPS, then the CPU; mixed precision
  on CUDA; ``channels_last`` images for networks with convolutions on CUDA and the CPU);
- with ``checkpoint=`` it saves a resumable :class:`~course_utils.storage.checkpoints.TrainingState`
  after every epoch, and ``resume=True`` continues from it with exactly the history an
  uninterrupted run would have had;
- ``patience=`` stops when the validation accuracy has not improved for that many epochs
  (the best epoch's weights are kept, as always);
- pressing *stop* (``KeyboardInterrupt``) ends the run cleanly, with the history so far and
  the best weights.

Reading order for a learner: :func:`fit`, then :func:`run_phase` (one pass over a loader).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from course_utils.arguments import require_int
from course_utils.env import RunContext, current_context
from course_utils.pipeline.history import History
from course_utils.pipeline.randomness import reseed, rng_state, set_rng_state
from course_utils.storage.checkpoints import TrainingState, check_compatible, load_checkpoint

__all__ = ["History", "batches_in", "evaluate", "fit", "run_phase", "train_mode"]

_REFRESH_SECONDS = 0.5
"""How often the batch progress bar shows a new loss/accuracy (each refresh costs a sync)."""
_BATCH_SCHEDULERS = (torch.optim.lr_scheduler.OneCycleLR, torch.optim.lr_scheduler.CyclicLR)
"""Schedulers that are meant to step after every batch rather than every epoch."""


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


def batches_in(loader: Iterable) -> int | None:
    """How many batches ``loader`` yields per pass, or None when it cannot say."""
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:
        return None


def uses_channels_last(model: nn.Module, context: RunContext) -> bool:
    """The context's ``channels_last``, for a model with 2-D convolutions to profit from it."""
    return context.channels_last and any(isinstance(m, nn.Conv2d) for m in model.modules())


def evaluate(
    model: nn.Module,
    loader: Iterable,
    *,
    criterion: nn.Module | None = None,
    context: RunContext | None = None,
    progress: bool = False,
) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on ``loader`` (evaluation mode, no gradients)."""
    context = context or current_context()
    channels_last = uses_channels_last(model, context)
    model.to(context.device, memory_format=torch.channels_last if channels_last else torch.preserve_format)  # type: ignore[call-overload]
    criterion = (criterion or nn.CrossEntropyLoss()).to(context.device)
    model.eval()
    with context.progress_bar(total=batches_in(loader), desc="evaluate", leave=False, disable=not progress) as bar:
        return run_phase(model, loader, criterion, train=False, context=context, channels_last=channels_last, bar=bar)


def fit(
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable,
    *,
    epochs: int,
    optimizer: torch.optim.Optimizer,
    scheduler: Any | None = None,
    criterion: nn.Module | None = None,
    context: RunContext | None = None,
    compile: bool = False,
    checkpoint: str | Path | None = None,
    checkpoint_extra: Mapping[str, Any] | None = None,
    resume: bool = False,
    patience: int | None = None,
    seed: int | None = 0,
    progress: bool = True,
) -> History:
    """Train ``model`` for ``epochs`` epochs; return the :class:`History` with the best weights loaded.

    Each epoch: training phase on ``train_loader`` (which yields ``(inputs, class_indices)``),
    validation phase on ``val_loader``, then one ``scheduler.step()`` (``OneCycleLR`` and
    ``CyclicLR`` step after every batch; ``ReduceLROnPlateau`` gets the validation loss).

    - ``criterion``: defaults to ``nn.CrossEntropyLoss()`` (the model outputs raw scores);
      pass ``nn.NLLLoss()`` for a model that ends in ``LogSoftmax``, as in the notes.
    - ``context``: device, precision and memory layout (default: the process's
      :func:`~course_utils.env.current_context`); the model is moved to its device (the
      optimizer keeps working: it holds the same parameters).
    - ``compile``: ``torch.compile`` the model in place (``model.compile()``) before training.
      The first epoch pays for the compilation (minutes on a CPU); it pays off on a GPU over
      several epochs.
    - ``checkpoint``: a path; after every epoch a resumable :class:`TrainingState` is written
      there atomically. ``checkpoint_extra`` (model name, class names, transform settings…:
      plain values only) is stored under ``"extra"``.
    - ``resume``: continue from ``checkpoint`` if the file exists (else start afresh); a
      finished run is not trained again, its history is returned at once.
    - ``patience``: stop early when the validation accuracy has not improved for this many
      epochs (None: run every epoch).
    - ``seed``: Python, NumPy and PyTorch are reseeded with ``seed + epoch`` at the start of
      each epoch, so a resumed run ends with exactly the history of an uninterrupted one
      (bit for bit on the CPU). None leaves the random generators alone.
    - ``progress``: nested progress bars (epochs, batches) and one line per epoch.

    Pressing stop (``KeyboardInterrupt``) ends training: the best weights so far are loaded,
    ``history.interrupted`` is True, and the checkpoint on disk is the last complete epoch.
    """
    _check_fit_arguments(model, train_loader, val_loader, epochs, optimizer, checkpoint, resume)
    if patience is not None:
        require_int("patience", patience)
    context = context or current_context()
    device = context.device
    channels_last = uses_channels_last(model, context)
    criterion = (criterion or nn.CrossEntropyLoss()).to(device)
    model.to(device, memory_format=torch.channels_last if channels_last else torch.preserve_format)  # type: ignore[call-overload]
    if compile:
        model.compile()  # in place: the state_dict keeps its names, so checkpoints are unchanged
    scaler = torch.amp.GradScaler("cuda") if context.precision == "fp16" else None
    per_batch = isinstance(scheduler, _BATCH_SCHEDULERS)
    extra = dict(checkpoint_extra or {})

    history = History(device=str(device), precision=context.precision)
    best_state: dict[str, torch.Tensor] | None = None
    start = 0
    if resume and checkpoint is not None and Path(checkpoint).is_file():
        state = TrainingState.from_dict(load_checkpoint(checkpoint), checkpoint)
        _check_resumable(state, extra)
        _load_weights(model, state.last_state_dict, checkpoint)
        optimizer.load_state_dict(state.optimizer)
        if scheduler is not None and state.scheduler is not None:
            scheduler.load_state_dict(state.scheduler)
        if scaler is not None and state.scaler is not None:
            scaler.load_state_dict(state.scaler)
        history = History.from_dict(state.history)
        history.device, history.precision, history.interrupted = str(device), context.precision, False
        best_state = state.state_dict
        start = int(state.epoch)
        set_rng_state(state.rng)
        if progress:
            print(f"Resuming from {checkpoint}: {start} epoch(s) done, best val acc "
                  f"{history.best_acc:.3f} (epoch {history.best_epoch}).")

    epoch_bar = context.progress_bar(total=epochs, initial=min(start, epochs), desc="epochs", unit="epoch",
                                     disable=not progress)
    batch_bar = context.progress_bar(total=0, desc="batches", unit="batch", leave=False, disable=not progress)
    epoch = start
    try:
        for epoch in range(start, epochs):
            if patience is not None and history.epochs - history.best_epoch >= patience:
                epoch_bar.total = epoch_bar.n  # the bar of a run that stopped early ends at 100 %
                if progress:
                    print(f"Stopped early: no better validation accuracy for {patience} epoch(s) "
                          f"after epoch {history.best_epoch}.")
                break
            if seed is not None:
                reseed(seed + epoch, train_loader, val_loader)
            lr = float(optimizer.param_groups[0]["lr"])
            started = time.perf_counter()

            train_mode(model)
            batch_bar.reset(total=batches_in(train_loader))
            batch_bar.set_description(f"epoch {epoch + 1} train")
            train_metrics = run_phase(
                model, train_loader, criterion, train=True, context=context, channels_last=channels_last,
                bar=batch_bar, optimizer=optimizer, scaler=scaler, scheduler=scheduler if per_batch else None,
            )
            model.eval()
            batch_bar.reset(total=batches_in(val_loader))
            batch_bar.set_description(f"epoch {epoch + 1} valid")
            val_metrics = run_phase(model, val_loader, criterion, train=False, context=context,
                                    channels_last=channels_last, bar=batch_bar)
            if scheduler is not None and not per_batch:
                if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    scheduler.step(val_metrics[0])
                else:
                    scheduler.step()
            seconds = time.perf_counter() - started

            if history.best_epoch == 0 or val_metrics[1] > history.best_acc:
                best_state = _cpu_copy(model.state_dict())
                history.best_acc, history.best_epoch = val_metrics[1], epoch + 1
            history.record(train_metrics, val_metrics, lr, seconds)
            if checkpoint is not None:
                TrainingState(
                    epoch=epoch + 1, epochs=epochs, state_dict=best_state, best_acc=float(history.best_acc),
                    best_epoch=int(history.best_epoch), last_state_dict=model.state_dict(),
                    optimizer=optimizer.state_dict(), history=history.to_dict(),
                    scheduler=scheduler.state_dict() if scheduler is not None else None,
                    scaler=scaler.state_dict() if scaler is not None else None,
                    seed=seed, rng=rng_state(), extra=extra,
                ).save(checkpoint)

            epoch_bar.update(1)
            epoch_bar.set_postfix(train_loss=f"{train_metrics[0]:.4f}", val_acc=f"{val_metrics[1]:.3f}")
            if progress:
                epoch_bar.write(
                    f"epoch {epoch + 1}/{epochs}  train loss {train_metrics[0]:.4f} acc "
                    f"{train_metrics[1]:.3f} | val loss {val_metrics[0]:.4f} acc "
                    f"{val_metrics[1]:.3f} | lr {lr:.3g} | {seconds:.1f}s"
                )
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


def run_phase(
    model: nn.Module,
    loader: Iterable,
    criterion: nn.Module,
    *,
    train: bool,
    context: RunContext,
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
    device = context.device
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
            with context.autocast():
                outputs = model(inputs)
                logits, loss = _loss(criterion, outputs, targets)
            if optimizer is not None:  # the training phase
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


# Helpers of fit (private) --------------------------------------------------------------

def _check_fit_arguments(model, train_loader, val_loader, epochs, optimizer, checkpoint, resume) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    for name, loader in (("train_loader", train_loader), ("val_loader", val_loader)):
        if loader is None or not hasattr(loader, "__iter__"):
            raise TypeError(f"{name} must be a DataLoader (or any iterable of (inputs, targets) batches), got {loader!r}.")
    require_int("epochs", epochs)
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


def _check_resumable(state: TrainingState, extra: Mapping[str, Any]) -> None:
    wanted = {k: extra[k] for k in ("model_name", "num_classes", "class_names") if k in extra}
    if wanted:
        check_compatible(state.to_dict(), **wanted)


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
