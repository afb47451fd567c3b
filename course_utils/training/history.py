"""What a training run measured: :class:`History`, one entry per completed epoch.

The notes' ``train_model`` returned five lists (``val_acc_history, train_acc_history,
valid_losses, train_losses, LRs``); a History holds them under plain names, still answers to the
notes' names, and saves itself as plain values so a checkpoint holding it loads with
``weights_only=True``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["NOTES_NAMES", "History"]

NOTES_NAMES = {"val_acc_history": "val_acc", "train_acc_history": "train_acc", "valid_losses": "val_loss",
               "train_losses": "train_loss", "LRs": "lr"}
"""The notes' ``train_model`` returned these five lists, in this order; a History holds them under
plain names (the values here) and answers to the notes' names too."""


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
    def __getattr__(self, name: str) -> list[float]:
        """The notes' names for the five lists (``history.val_acc_history``, ``history.LRs``…)."""
        if name in NOTES_NAMES:
            return getattr(self, NOTES_NAMES[name])
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

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
        kwargs: dict[str, Any] = {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in data.items()}
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

    def plot(self, title: str | None = None) -> Figure:
        """Loss, accuracy and learning-rate curves side by side (:func:`course_utils.analysis.plots.plot_history`).

        In a notebook: ``history.plot()`` then ``plt.show()``.
        """
        from course_utils.analysis.plots import plot_history

        return plot_history(self, title)

    def record(self, train: tuple[float, float], val: tuple[float, float], lr: float, seconds: float) -> None:
        """Append one finished epoch: (loss, accuracy) of both phases, its learning rate and duration."""
        self.train_loss.append(train[0])
        self.train_acc.append(train[1])
        self.val_loss.append(val[0])
        self.val_acc.append(val[1])
        self.lr.append(lr)
        self.epoch_seconds.append(seconds)
