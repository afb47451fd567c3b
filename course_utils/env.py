"""Where the course runs, decided once: the :class:`RunContext`.

Every run asks the same questions: which device, which precision, ``channels_last`` or not,
how many DataLoader workers, pinned memory or not, where the data lives, fast mode or the full
run, online or offline. :func:`run_context` answers all of them in one place, at the top of a
run (a notebook's first cells, ``run_transfer``, the benchmark, the command line), and the
answer is passed down: the training loop, the data loaders and the caches read the context
they are given and decide nothing themselves. This is the only module that reads the
course's environment variables.

A function called without a context uses :func:`current_context`: the context of this
process, resolved once from the environment (or set with :func:`use_context`).
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from course_utils.arguments import require_int
from course_utils.context import RunContext

if TYPE_CHECKING:
    import torch

__all__ = [
    "DOWNLOAD_STALL_SECONDS",
    "FLOWERS_ENV_VAR",
    "PRECISIONS",
    "RunContext",
    "cpu_count",
    "current_context",
    "data_dir",
    "environment_report",
    "fast_mode",
    "get_device",
    "graded_run",
    "is_online",
    "pick",
    "repo_root",
    "reset_context",
    "run_context",
    "seed_everything",
    "shown_path",
    "stall_timeout",
    "use_context",
]

FAST_ENV_VAR = "COURSE_FAST"
"""Set to ``1`` (the test command does) to shrink data and epochs; unset for the full run."""

DEVICE_ENV_VAR = "COURSE_DEVICE"
"""Set to ``cpu``, ``cuda``, ``cuda:1`` or ``mps`` to override the automatic choice."""

DATA_ENV_VAR = "COURSE_DATA_DIR"
"""Set to a folder to keep data sets, caches and checkpoints somewhere else."""

OFFLINE_ENV_VAR = "COURSE_OFFLINE"
"""Set to ``1`` to never try the network, even when it is there."""

FLOWERS_ENV_VAR = "COURSE_FLOWERS_DIR"
"""Set to a folder in the notes' layout to train on your own copy of the flowers."""

GRADING_ENV_VAR = "COURSE_GRADING"
"""Set to ``1`` by the nbgrader configuration (``tools/nbgrader_course.py``) while nbgrader
autogrades: a check that is not right then raises after printing its line, so that nbgrader
scores its cell 0. A learner never sets it."""


DISTRIBUTED_ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
"""Set by ``torchrun`` in every process it starts: the process's place in a distributed job."""

PRECISIONS = ("fp32", "bf16", "fp16")

T = TypeVar("T")


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def run_context(
    *,
    device: torch.device | str | None = None,
    precision: str | None = None,
    channels_last: bool | None = None,
    num_workers: int | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    fast: bool | None = None,
    offline: bool | None = None,
    flowers_dir: str | os.PathLike[str] | None = None,
    command: bool = False,
) -> RunContext:
    """Decide every setting of a run: what you pass wins, then the environment, then the machine.

    - **device**: ``COURSE_DEVICE``, else CUDA, then Apple's MPS, then the CPU.
    - **precision**: on CUDA bfloat16 where the GPU has it (no gradient scaler needed), float16
      otherwise; float32 on the CPU and MPS (asking for mixed precision there is an error).
    - **channels_last**: on for CUDA and the CPU (measured 1.2-1.4× faster for convolutions on
      a laptop CPU too, see benchmarks/RESULTS.md), off on MPS.
    - **num_workers**: in fast mode 0 (starting processes costs more than a tiny run saves);
      on CUDA the CPU only prepares data, so up to 8 (one core left for the training
      process); on the CPU the model's own arithmetic uses every core, so one worker per
      four cores, at least one when there are two, so that decoding overlaps computing.
    - **pin_memory**: with CUDA only (page-locked memory lets copies overlap computing).
    - **data_dir**: ``COURSE_DATA_DIR``, else ``data/`` in the course checkout, else
      ``~/.cache/cnn-course`` (created if missing).
    - **fast**: ``COURSE_FAST=1``; **offline**: ``COURSE_OFFLINE=1``;
      **flowers_dir**: ``COURSE_FLOWERS_DIR``.
    - **rank, world_size, local_rank**: ``torchrun``'s ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``
      (0, 1, 0 without it); each process of a distributed job on CUDA uses ``cuda:LOCAL_RANK``.
    - **command**: a command-line run (not a notebook): text bars on a terminal, plain lines every
      tenth of a long step when stdout is a file (a log); in a distributed job rank 0 alone shows them.
    """
    rank, world_size, local_rank = _place_in_job()
    resolved = _device(device, local_rank if world_size > 1 else None)
    if precision is None:
        precision = _default_precision(resolved)
    elif precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}.")
    elif precision != "fp32" and resolved.type != "cuda":
        raise ValueError(
            f"Mixed precision ({precision}) needs a CUDA GPU, but this run uses {resolved.type!r}. "
            "Leave precision=None (mixed precision is then used on CUDA only) or pass 'fp32'."
        )
    fast = _flag(FAST_ENV_VAR) if fast is None else bool(fast)
    if num_workers is None:
        num_workers = _default_workers(resolved, fast)
    require_int("num_workers", num_workers, minimum=0)
    flowers = flowers_dir if flowers_dir is not None else os.environ.get(FLOWERS_ENV_VAR) or None
    return RunContext(
        device=resolved,
        precision=precision,
        channels_last=resolved.type in {"cuda", "cpu"} if channels_last is None else bool(channels_last),
        num_workers=num_workers,
        pin_memory=resolved.type == "cuda",
        data_dir=_data_dir(data_dir),
        fast=fast,
        offline=_flag(OFFLINE_ENV_VAR) if offline is None else bool(offline),
        flowers_dir=Path(flowers).expanduser() if flowers is not None else None,
        progress=_progress(rank, command),
        rank=rank,
        world_size=world_size,
        local_rank=local_rank,
    )


def _progress(rank: int, command: bool) -> str:
    """Widgets in a notebook; bars on a terminal; plain lines in a log file; rank 0 alone shows any."""
    if rank != 0:
        return "off"
    if not command:
        return "notebook"
    return "terminal" if sys.stdout.isatty() else "log"


def _place_in_job() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's variables, checked."""
    values = {name: os.environ.get(name, "").strip() for name in DISTRIBUTED_ENV_VARS}
    try:
        rank, world, local = (int(values[n] or default) for n, default in zip(DISTRIBUTED_ENV_VARS, "010", strict=True))
    except ValueError as error:
        raise ValueError(f"RANK, WORLD_SIZE and LOCAL_RANK must be integers (torchrun sets them), got {values}.") from error
    if world < 1 or not 0 <= rank < world or local < 0:
        raise ValueError(f"Inconsistent torchrun variables {values}: need 0 <= RANK < WORLD_SIZE and LOCAL_RANK >= 0.")
    return rank, world, local


_CURRENT: RunContext | None = None


def current_context() -> RunContext:
    """This process's context: :func:`run_context` with no arguments, resolved once."""
    global _CURRENT
    if _CURRENT is None:
        _CURRENT = run_context()
    return _CURRENT


def use_context(context: RunContext) -> RunContext:
    """Make ``context`` what functions called without one use from now on; returns it."""
    global _CURRENT
    if not isinstance(context, RunContext):
        raise TypeError(f"use_context takes a RunContext (from run_context()), got {type(context).__name__}.")
    _CURRENT = context
    return context


def reset_context() -> None:
    """Forget the process's context, so the next :func:`current_context` reads the environment again."""
    global _CURRENT
    _CURRENT = None


def _device(wanted: torch.device | str | None, local_rank: int | None = None) -> torch.device:
    """The device asked for (checked), else the best one; ``cuda:local_rank`` in a distributed job."""
    import torch

    wanted = wanted if wanted is not None else os.environ.get(DEVICE_ENV_VAR) or None
    if wanted is None:
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank) if local_rank is not None else torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    device = torch.device(wanted)
    if device.type == "cuda" and device.index is None and local_rank is not None:
        device = torch.device("cuda", local_rank)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"Device {str(wanted)!r} was asked for, but PyTorch sees no CUDA GPU here. "
            f"Unset {DEVICE_ENV_VAR} or ask for 'cpu'."
        )
    if device.type == "mps" and not _mps_available():
        raise RuntimeError(
            f"Device {str(wanted)!r} was asked for, but Apple's MPS backend is not available. "
            f"Unset {DEVICE_ENV_VAR} or ask for 'cpu'."
        )
    return device


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def _default_precision(device: torch.device) -> str:
    import torch

    if device.type != "cuda":
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def _default_workers(device: torch.device, fast: bool) -> int:
    if fast:
        return 0
    cores = cpu_count()
    if device.type == "cuda":
        return min(8, max(1, cores - 1))
    return min(4, cores // 4) or (1 if cores >= 2 else 0)


def _data_dir(given: str | os.PathLike[str] | None) -> Path:
    chosen = given if given is not None else os.environ.get(DATA_ENV_VAR) or None
    if chosen is not None:
        path = Path(chosen).expanduser()
    elif (root := repo_root()) is not None:
        path = root / "data"
    else:
        path = Path.home() / ".cache" / "cnn-course"
    path.mkdir(parents=True, exist_ok=True)
    return path


# Short answers, read from the current context ---------------------------------------


def fast_mode() -> bool:
    """True when the test command (or you) asked for the small, quick version of each run."""
    return current_context().fast


def graded_run() -> bool:
    """True while nbgrader autogrades the notebook (``COURSE_GRADING=1``): checks then raise when not right.

    Read at each check rather than once: it describes how this kernel was started, not a setting
    of the run, and a learner's notebook never has it.
    """
    return _flag(GRADING_ENV_VAR)


def pick(full: T, fast: T) -> T:
    """Return ``full`` normally and ``fast`` in fast mode: ``EPOCHS = pick(full=10, fast=1)``."""
    return current_context().pick(full, fast)


def get_device(prefer: str | None = None) -> torch.device:
    """The device to train on: ``prefer`` if given (checked), else the current context's."""
    return _device(prefer) if prefer is not None else current_context().device


def data_dir() -> Path:
    """The folder for data sets, caches and checkpoints (the current context's)."""
    path = current_context().data_dir
    path.mkdir(parents=True, exist_ok=True)
    return path


def cpu_count() -> int:
    """The CPU cores this process may use (its affinity, which containers restrict), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS and Windows have no affinity call
        return max(1, os.cpu_count() or 1)


def shown_path(path: str | os.PathLike[str]) -> str:
    """``path`` as a learner's output should show it: ``~/...`` inside the home folder, else relative
    to the working folder when that is short (``../../shared/flowers``), else the folder's name.

    Committed outputs are read on GitHub by people on other machines: they should not carry this
    machine's absolute paths.
    """
    path = Path(path).expanduser().resolve()
    home = Path.home().resolve()
    if path == home or home in path.parents:
        return "~/" + path.relative_to(home).as_posix()
    try:
        relative = Path(os.path.relpath(path, Path.cwd()))
    except ValueError:  # another drive (Windows)
        return f".../{path.name}"
    return relative.as_posix() if relative.parts.count("..") <= 3 else f".../{path.name}"


def repo_root() -> Path | None:
    """The course checkout this package was installed from, if it was installed editable."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "notebooks").is_dir() and (root / "pyproject.toml").is_file() else None


def is_online(host: str = "download.pytorch.org", port: int = 443, timeout: float = 2.0) -> bool:
    """The current context's :meth:`~course_utils.context.RunContext.is_online` (notebooks, data sources).

    Never hangs: a blocked or absent network answers False within the timeout. An offline
    context (``COURSE_OFFLINE=1``) answers False without trying.
    """
    return current_context().is_online(host, port, timeout)


DOWNLOAD_STALL_SECONDS = 60.0
"""A download that receives nothing for this long gives up (with an error) instead of hanging."""


@contextlib.contextmanager
def stall_timeout(seconds: float | None = None) -> Iterator[None]:
    """Inside this block, a socket that waits more than ``seconds`` for data raises ``TimeoutError``.

    torchvision downloads with ``urllib`` and no timeout: a server (or a captive portal, or a
    half-dead Wi-Fi) that accepts the connection and then sends nothing would make a notebook
    wait forever. The course wraps every download in this block, so such a download fails
    after ``DOWNLOAD_STALL_SECONDS`` of silence with an error that says what to do. A slow
    download that keeps receiving data is not affected: the limit is per read, not in total.
    """
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_STALL_SECONDS if seconds is None else seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and PyTorch so that a run can be repeated."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def environment_report(context: RunContext | None = None) -> dict[str, str]:
    """What notebook 00 prints: versions, device, network, data folder, mode."""
    import numpy as np
    import torch
    import torchvision

    context = context or current_context()
    device = context.device
    device_text = f"cuda ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else device.type
    return {
        "python": sys.version.split()[0],
        "platform": f"{platform.system()} {platform.machine()}",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "device": device_text,
        "CPU threads": str(torch.get_num_threads()),
        "network": "online" if is_online() else "offline",
        "data folder": shown_path(context.data_dir),
        "mode": "fast (COURSE_FAST=1)" if context.fast else "full",
    }

