"""The :class:`RunContext`: every setting of a run, decided once and passed down.

:func:`course_utils.env.run_context` builds it (that module reads the environment; this one
only holds the answer). The training loop, the loaders, the caches and the command line read
the context they are given and decide nothing themselves. Under ``torchrun`` the context also
carries the process's place in the job (``rank``, ``world_size``, ``local_rank``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import torch

__all__ = ["RunContext"]

T = TypeVar("T")


@dataclass(frozen=True)
class RunContext:
    """Every setting of a run that depends on the machine or the learner's choice, decided once.

    Build it with :func:`course_utils.env.run_context` (which fills in what you do not pass);
    change one field with ``dataclasses.replace(context, channels_last=False)``.
    """

    device: torch.device
    precision: str
    """``"fp32"``, or ``"bf16"``/``"fp16"`` for mixed precision (CUDA only)."""
    channels_last: bool
    """Feed 4-D images to convolutions in the channels-last memory layout."""
    num_workers: int
    """DataLoader worker processes."""
    pin_memory: bool
    data_dir: Path
    """Where data sets, caches and checkpoints live."""
    fast: bool
    """The small, quick version of each run (the test command's)."""
    offline: bool
    """Never try the network."""
    flowers_dir: Path | None = None
    """A folder of flowers in the notes' layout chosen by the learner, if any."""
    progress: str = "notebook"
    """How progress is shown: ``"notebook"`` (tqdm's widgets), ``"terminal"`` (text bars, a command
    on a terminal), ``"log"`` (a command whose output goes to a file: a plain line every tenth of a
    long step) or ``"off"`` (every process of a distributed job but the first)."""
    rank: int = 0
    """This process's number in a distributed job (``torchrun``'s ``RANK``), 0 when alone."""
    world_size: int = 1
    """How many processes train together (``torchrun``'s ``WORLD_SIZE``)."""
    local_rank: int = 0
    """This process's number on its machine (``LOCAL_RANK``): which GPU it uses."""

    @property
    def distributed(self) -> bool:
        """True when several processes train one model together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True for the process that writes checkpoints and logs (rank 0)."""
        return self.rank == 0

    def single_process(self) -> RunContext:
        """This context for work that one process does alone (rank 0's stage 1 on features)."""
        return replace(self, rank=0, world_size=1, local_rank=0)

    @property
    def amp_dtype(self) -> torch.dtype | None:
        """The autocast dtype, or None for plain float32."""
        import torch

        return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[self.precision]

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """``torch.autocast`` at this precision, or a no-op context for float32."""
        import torch

        dtype = self.amp_dtype
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def loader_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``DataLoader(...)`` that decide speed, not results.

        Workers are not kept alive between epochs (no ``persistent_workers``): each epoch's
        workers take their seeds from the loader's generator, which ``fit`` reseeds every
        epoch, so a resumed run draws the same augmentations as an uninterrupted one.
        """
        return {"num_workers": self.num_workers, "pin_memory": self.pin_memory}

    @property
    def bars(self) -> bool:
        """True when progress is drawn as bars (a notebook or a terminal)."""
        return self.progress in ("notebook", "terminal")

    def progress_bar(self, **kwargs: Any) -> Any:
        """A progress bar as this context shows progress (see :attr:`progress`): every bar of the
        course is made here. Takes tqdm's arguments; ``disable=True`` hides it whatever the context.
        """
        if self.progress == "log":
            from course_utils.progress import LineProgress

            return LineProgress(**kwargs)
        if self.progress == "terminal":
            from tqdm.std import tqdm
        else:
            from tqdm.auto import tqdm
        kwargs["disable"] = bool(kwargs.get("disable", False)) or self.progress == "off"
        return tqdm(**kwargs)

    def is_online(self, host: str = "download.pytorch.org", port: int = 443, timeout: float = 2.0) -> bool:
        """True when downloads may be tried: not :attr:`offline`, and a TCP connection to ``host``
        opens within ``timeout`` seconds. Never hangs: a blocked or absent network answers False."""
        import socket

        if self.offline:
            return False
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return True
        except OSError:
            return False

    def pick(self, full: T, fast: T) -> T:
        """``full`` normally and ``fast`` in fast mode: ``EPOCHS = context.pick(full=10, fast=1)``."""
        return fast if self.fast else full

    def describe(self) -> str:
        """One line for a notebook to print."""
        place = f", rank {self.rank} of {self.world_size}" if self.distributed else ""
        return (f"device {self.device}, precision {self.precision}, channels_last "
                f"{self.channels_last}, {self.num_workers} loader worker(s), "
                f"{'fast' if self.fast else 'full'} mode, {'offline' if self.offline else 'network allowed'}"
                f"{place}")
