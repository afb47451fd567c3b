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
  the best weights;
- under ``torchrun`` (a context with ``world_size > 1``) the model trains as
  ``DistributedDataParallel``, the metrics are summed over every process, and only rank 0
  saves and prints (:mod:`course_utils.training.distributed`).

Reading order for a learner: :func:`fit`, then :func:`run_phase` (one pass over a loader).
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from course_utils.arguments import require_int
from course_utils.context import RunContext
from course_utils.models.forward import forward, place
from course_utils.training.batches import (
    batches_in,
    check_fit_arguments,
    cpu_copy,
    logits_and_loss,
    unpack_batch,
)
from course_utils.training.distributed import (
    RANK_SEED_STRIDE,
    barrier,
    reduce_metrics,
    set_epoch,
    wrap_model,
)
from course_utils.training.history import History
from course_utils.training.randomness import reseed
from course_utils.training.resume import resume as resume_from
from course_utils.training.resume import training_state

__all__ = ["evaluate", "fit", "run_phase", "train_mode"]

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


def evaluate(
    model: nn.Module,
    loader: Iterable,
    *,
    criterion: nn.Module | None = None,
    context: RunContext,
    progress: bool = False,
) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on ``loader`` (the notes' valid phase: evaluation mode, no gradients)."""
    layout = place(model, context)
    criterion = (criterion or nn.CrossEntropyLoss()).to(context.device)
    model.eval()
    with context.progress_bar(total=batches_in(loader), desc="evaluate", leave=False, disable=not progress) as bar:
        return run_phase(model, loader, criterion, train=False, context=context, layout=layout, bar=bar)


def fit(
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable,
    *,
    epochs: int,
    optimizer: torch.optim.Optimizer,
    scheduler: Any | None = None,
    criterion: nn.Module | None = None,
    context: RunContext,
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
    - ``context``: device, precision and memory layout, decided once at the top of the run
      (:func:`~course_utils.env.run_context`); the model is moved to its device (the optimizer
      keeps working: it holds the same parameters).
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
    - ``progress``: nested progress bars (epochs, batches; only where the context shows bars)
      and one line per epoch.

    In a distributed context (``torchrun``) every process calls ``fit`` with its share of the
    data (:func:`~course_utils.training.distributed.sharded_loaders`): the model is wrapped in
    ``DistributedDataParallel``, each sampler gets ``set_epoch``, the losses and accuracies are
    those of all processes together, and rank 0 alone writes the checkpoint and prints (every
    process waits for the last save before ``fit`` returns, so all can read it).

    Pressing stop (``KeyboardInterrupt``) ends training: the best weights so far are loaded,
    ``history.interrupted`` is True, and the checkpoint on disk is the last complete epoch.
    """
    check_fit_arguments(model, train_loader, val_loader, epochs, optimizer, checkpoint, resume)
    if patience is not None:
        require_int("patience", patience)
    device = context.device
    layout = place(model, context)
    criterion = (criterion or nn.CrossEntropyLoss()).to(device)
    if compile:
        model.compile()  # in place: the state_dict keeps its names, so checkpoints are unchanged
    trained = wrap_model(model, context)  # DistributedDataParallel in a distributed job; model itself otherwise
    show = progress and context.is_main  # one process prints: rank 0
    scaler = torch.amp.GradScaler("cuda") if context.precision == "fp16" else None
    per_batch = isinstance(scheduler, _BATCH_SCHEDULERS)
    extra = dict(checkpoint_extra or {})

    history = History(device=str(device), precision=context.precision)
    best_state: dict[str, torch.Tensor] | None = None
    start = 0
    if resume and checkpoint is not None and Path(checkpoint).is_file():
        resumed = resume_from(checkpoint, model, optimizer, scheduler=scheduler, scaler=scaler, extra=extra)
        history, best_state, start = resumed.history, resumed.best_state, resumed.start
        history.device, history.precision, history.interrupted = str(device), context.precision, False
        if show:
            print(f"Resuming from {Path(checkpoint).name}: {start} epoch(s) done, best val acc "
                  f"{history.best_acc:.3f} (epoch {history.best_epoch}).", flush=True)

    # in a log file the epoch bar's lines would repeat the one line per epoch printed below
    epoch_bar = context.progress_bar(total=epochs, initial=min(start, epochs), desc="epochs", unit="epoch",
                                     disable=not show or context.progress == "log")
    batch_bar = context.progress_bar(total=0, desc="batches", unit="batch", leave=False, disable=not show)
    epoch = start
    try:
        for epoch in range(start, epochs):
            if patience is not None and history.epochs - history.best_epoch >= patience:
                epoch_bar.total = epoch_bar.n  # the bar of a run that stopped early ends at 100 %
                if show:
                    print(f"Stopped early: no better validation accuracy for {patience} epoch(s) "
                          f"after epoch {history.best_epoch}.", flush=True)
                break
            if seed is not None:
                reseed(seed + epoch + RANK_SEED_STRIDE * context.rank, train_loader, val_loader)
            set_epoch(epoch, train_loader, val_loader)
            lr = float(optimizer.param_groups[0]["lr"])
            started = time.perf_counter()

            train_mode(model)
            batch_bar.reset(total=batches_in(train_loader))
            batch_bar.set_description(f"epoch {epoch + 1} train")
            train_metrics = run_phase(
                trained, train_loader, criterion, train=True, context=context, layout=layout,
                bar=batch_bar, optimizer=optimizer, scaler=scaler, scheduler=scheduler if per_batch else None,
            )
            model.eval()
            batch_bar.reset(total=batches_in(val_loader))
            batch_bar.set_description(f"epoch {epoch + 1} valid")
            val_metrics = run_phase(model, val_loader, criterion, train=False, context=context,
                                    layout=layout, bar=batch_bar)
            if scheduler is not None and not per_batch:
                if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    scheduler.step(val_metrics[0])
                else:
                    scheduler.step()
            seconds = time.perf_counter() - started

            if history.best_epoch == 0 or val_metrics[1] > history.best_acc:
                best_state = cpu_copy(model.state_dict())
                history.best_acc, history.best_epoch = val_metrics[1], epoch + 1
            history.record(train_metrics, val_metrics, lr, seconds)
            if checkpoint is not None and context.is_main:
                training_state(epoch=epoch + 1, epochs=epochs, history=history, best_state=best_state,
                               last_state=model.state_dict(), optimizer=optimizer, scheduler=scheduler,
                               scaler=scaler, seed=seed, extra=extra).save(checkpoint)

            epoch_bar.update(1)
            epoch_bar.set_postfix(train_loss=f"{train_metrics[0]:.4f}", val_acc=f"{val_metrics[1]:.3f}")
            if show:
                epoch_bar.write(
                    f"epoch {epoch + 1}/{epochs}  train loss {train_metrics[0]:.4f} acc "
                    f"{train_metrics[1]:.3f} | val loss {val_metrics[0]:.4f} acc "
                    f"{val_metrics[1]:.3f} | lr {lr:.3g} | {seconds:.1f}s"
                )
                sys.stdout.flush()  # a log file gets each epoch's line when it ends
    except KeyboardInterrupt:
        history.interrupted = True
        kept = f"best weights (epoch {history.best_epoch}, val acc {history.best_acc:.3f}) loaded" \
            if best_state is not None else "no epoch completed, so the weights are as the interruption left them"
        if context.is_main:
            print(f"Interrupted during epoch {epoch + 1}: kept the history of {history.epochs} complete "
                  f"epoch(s); {kept}.")
    finally:
        batch_bar.close()
        epoch_bar.close()

    if best_state is not None:
        model.load_state_dict(best_state)
    if checkpoint is not None and not history.interrupted:
        barrier(context)  # the other processes may read the checkpoint rank 0 has just written
    return history


def run_phase(
    model: nn.Module,
    loader: Iterable,
    criterion: nn.Module,
    *,
    train: bool,
    context: RunContext,
    layout: torch.memory_format = torch.contiguous_format,
    bar: Any,
    optimizer: torch.optim.Optimizer | None = None,
    scaler: torch.amp.GradScaler | None = None,
    scheduler: Any | None = None,
) -> tuple[float, float]:
    """One pass over ``loader``: mean loss and accuracy (training updates the weights).

    The sums stay on the device (no ``.item()`` per batch, which would make the CPU wait for
    the GPU every step); the progress bar reads them at most every half second. In a
    distributed job the result is that of every process's share together (a training
    ``DistributedSampler`` repeats a few images to give every process as many batches; the
    evaluation shards do not, so a validation accuracy counts every image once).
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
            inputs, targets = unpack_batch(batch)
            targets = targets.to(device, non_blocking=True)
            outputs = forward(model, inputs, context, layout)
            with context.autocast():
                logits, loss = logits_and_loss(criterion, outputs, targets)
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
    loss_total, correct_total, seen = reduce_metrics(context, loss_sum, correct, seen)
    if seen == 0:
        raise ValueError(
            f"The {'training' if train else 'validation'} loader yielded no batches. Check the "
            "data set is not empty (and drop_last=False when it is smaller than a batch)."
        )
    mean_loss, accuracy = loss_total / seen, correct_total / seen
    bar.set_postfix(loss=f"{mean_loss:.4f}", acc=f"{accuracy:.3f}")
    return mean_loss, accuracy
