"""Checkpoints: save a training state safely, load it safely, check it fits the model at hand.

A checkpoint is a dictionary of plain Python values (numbers, strings, lists, dicts) and
tensors. Keeping it that plain is what lets :func:`load_checkpoint` use
``torch.load(weights_only=True)``, which refuses to run code hidden in a file: an ordinary
pickle can execute anything when it is loaded, so never load one you do not trust.

- :func:`save_checkpoint` writes atomically: a crash or a learner pressing stop in the
  middle of a save never leaves a half-written file under the real name.
- :func:`load_checkpoint` loads with ``weights_only=True`` and explains what went wrong.
- :func:`check_compatible` says, before any weights are loaded, whether a checkpoint was
  made for this model and these classes.
- :class:`TrainingState` is the one format of a training checkpoint: what ``fit`` (and
  ``fit_head`` for stage 1) saves after every epoch, and what resuming and stage 2 read.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from course_utils.arguments import first_line

__all__ = ["CHECKPOINT_FORMAT", "TrainingState", "check_compatible", "load_checkpoint", "save_checkpoint"]

CHECKPOINT_FORMAT = "course_utils.fit/1"
"""Written into every training checkpoint, so a reader knows which keys to expect."""

_SCALARS = (str, bytes, int, float, complex, bool, type(None))
_TORCH_VALUES = (torch.Tensor, torch.Size, torch.dtype, torch.device)


@dataclass
class TrainingState:
    """A training checkpoint: everything to continue a run exactly, and to use its best model.

    ``state_dict`` holds the best epoch's weights (what you load to predict, as in the notes);
    ``last_state_dict``, ``optimizer``, ``scheduler``, ``scaler``, ``rng`` and ``epoch`` are what
    resuming needs; ``history`` is ``History.to_dict()``; ``extra`` describes the model (name,
    class names, transform settings: plain values only); ``stage1`` says how a stage-1
    checkpoint trained on cached features was made. On disk it is a plain dict
    (:meth:`to_dict`), so it loads with ``weights_only=True``.
    """

    epoch: int
    epochs: int
    state_dict: dict[str, Any] | None
    best_acc: float
    best_epoch: int
    last_state_dict: dict[str, Any]
    optimizer: dict[str, Any]
    history: dict[str, Any]
    scheduler: dict[str, Any] | None = None
    scaler: dict[str, Any] | None = None
    seed: int | None = None
    rng: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    stage1: dict[str, Any] | None = None
    format: str = CHECKPOINT_FORMAT

    def to_dict(self) -> dict[str, Any]:
        """The plain dict that is saved."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, state: Mapping[str, Any], path: str | os.PathLike[str] = "checkpoint") -> TrainingState:
        """Read a loaded checkpoint; a clear error if it is not a training checkpoint."""
        required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
        missing = [name for name in required if name not in state]
        if missing:
            raise ValueError(
                f"{path} is not a checkpoint written by fit (it lacks {missing}); it cannot be resumed. "
                "Pass resume=False to start afresh (the file will be overwritten)."
            )
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in state.items() if k in known})

    def best_weights(self) -> dict[str, Any]:
        """The weights to predict with: the best epoch's (the last epoch's for a file that has no best)."""
        return self.state_dict if self.state_dict is not None else self.last_state_dict

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write it atomically (:func:`save_checkpoint`)."""
        return save_checkpoint(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrainingState:
        """Load it safely (:func:`load_checkpoint`) and check it is a training checkpoint."""
        return cls.from_dict(load_checkpoint(path), path)


def save_checkpoint(path: str | os.PathLike, state: Mapping[str, Any]) -> Path:
    """Write ``state`` (a dict of plain values and tensors) to ``path`` atomically.

    The data goes to a temporary file in the same folder, is flushed to the disk, and only
    then renamed to ``path`` (``os.replace`` is atomic), so ``path`` always holds either the
    previous complete checkpoint or the new complete one. Objects that
    ``torch.load(weights_only=True)`` would refuse (a model object, a transform, a NumPy
    array, a lambda) are rejected *before* anything is written, with the key that holds them.
    Returns the path written.
    """
    if not isinstance(state, Mapping):
        raise TypeError(
            f"A checkpoint is a dict such as {{'state_dict': model.state_dict(), ...}}; "
            f"got {type(state).__name__}."
        )
    _check_plain(dict(state), "checkpoint")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            torch.save(dict(state), file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp_name, path)
    except BaseException:  # including KeyboardInterrupt: never leave the temporary file behind
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    _fsync_folder(path.parent)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (or any plain ``torch.save`` dict).

    Loads with ``weights_only=True``: only tensors and plain Python values are accepted, so a
    file that would run code when unpickled is refused. ``map_location="cpu"`` (the default)
    puts every tensor on the CPU, which works on any machine; move the model afterwards.
    """
    path = Path(path)
    if not path.is_file():
        where = "a folder" if path.is_dir() else "nothing"
        raise FileNotFoundError(
            f"No checkpoint file at {path} (found {where} there). Train first with "
            f"fit(..., checkpoint={str(path)!r}), or check the path and the data folder "
            f"(course_utils.env.data_dir())."
        )
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise pickle.UnpicklingError(
            f"{path}: this file contains code or objects that are not plain tensors and "
            f"values, so loading it with weights_only=True was refused; only load "
            f"checkpoints you trust. PyTorch said: {first_line(error)}"
        ) from error
    except (RuntimeError, EOFError, OSError) as error:
        raise RuntimeError(
            f"{path} could not be read as a PyTorch checkpoint (is it truncated, or not a "
            f"checkpoint at all?). Save it again with save_checkpoint. PyTorch said: "
            f"{first_line(error)}"
        ) from error
    if not isinstance(checkpoint, dict):
        raise TypeError(
            f"{path} holds a {type(checkpoint).__name__}, not a checkpoint dict. If it is a bare "
            f"state_dict, load it with model.load_state_dict(torch.load(path, weights_only=True))."
        )
    return checkpoint


def check_compatible(
    checkpoint: Mapping[str, Any],
    *,
    model_name: str | None = None,
    num_classes: int | None = None,
    class_names: Sequence[str] | None = None,
) -> None:
    """Raise a ``ValueError`` naming the mismatch if ``checkpoint`` was made for something else.

    Only the arguments you pass are checked. The checkpoint's own description is read from
    its ``"extra"`` dict (what ``fit(checkpoint_extra=...)`` stores), falling back to the top
    level: ``model_name``, ``class_names`` and ``num_classes`` (or the number of class names).
    A checkpoint that does not record something you ask about is a mismatch too: it cannot
    be checked, so it is not trusted.
    """
    if not isinstance(checkpoint, Mapping):
        raise TypeError(f"Expected a checkpoint dict (from load_checkpoint), got {type(checkpoint).__name__}.")
    extra = checkpoint.get("extra") or {}
    info = {**{k: v for k, v in checkpoint.items() if k != "extra"}, **extra}
    problems: list[str] = []

    if model_name is not None:
        saved = info.get("model_name")
        if saved is None:
            problems.append(f"it does not record a model name (you expect {model_name!r})")
        elif saved != model_name:
            problems.append(f"it was saved from model {saved!r}, but you are loading it into {model_name!r}")

    saved_names = info.get("class_names")
    saved_count = info.get("num_classes", len(saved_names) if saved_names is not None else None)
    if num_classes is not None:
        if saved_count is None:
            problems.append(f"it does not record its number of classes (you expect {num_classes})")
        elif int(saved_count) != int(num_classes):
            problems.append(f"it has {saved_count} classes, but you expect {num_classes}")

    if class_names is not None:
        wanted = list(class_names)
        if saved_names is None:
            problems.append("it does not record its class names")
        elif list(saved_names) != wanted:
            problems.append(_describe_name_mismatch(list(saved_names), wanted))

    if problems:
        raise ValueError(
            "This checkpoint does not fit: " + "; ".join(problems) + ". Use the checkpoint that "
            "was trained for this model and these classes, or train a new one."
        )


def _describe_name_mismatch(saved: list[str], wanted: list[str]) -> str:
    if len(saved) != len(wanted):
        return f"it has {len(saved)} class names, but you pass {len(wanted)}"
    if sorted(saved) == sorted(wanted):
        return "it has the same class names in a different order (predictions would be mislabelled)"
    first = next(i for i, (a, b) in enumerate(zip(saved, wanted, strict=True)) if a != b)
    return f"class {first} is {saved[first]!r} in the checkpoint but {wanted[first]!r} here"


def _check_plain(value: Any, where: str) -> None:
    """Raise TypeError naming the first value that weights_only loading would refuse."""
    # Exact types: a NumPy float is a subclass of float, but it pickles as NumPy code.
    if type(value) in _SCALARS or isinstance(value, _TORCH_VALUES):
        return
    if type(value) in (dict, OrderedDict):
        for key, item in value.items():
            if type(key) not in _SCALARS:
                raise TypeError(f"{where} has a key of type {type(key).__name__}; use strings or numbers.")
            _check_plain(item, f"{where}[{key!r}]")
        return
    if type(value) in (list, tuple, set):  # not subclasses such as named tuples
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    raise TypeError(
        f"{where} is a {type(value).__module__}.{type(value).__name__}, which torch.load("
        f"weights_only=True) would refuse. Save only tensors and plain values (numbers, "
        f"strings, lists, dicts): a state_dict() instead of a model or optimizer object, a "
        f"tensor or list instead of a NumPy array, a dict of settings instead of a transform."
    )


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
