"""Where the course runs: fast mode, the device, the network, the data folder, seeds.

Every notebook starts by asking these questions, so the answers live in one place.
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
from typing import TypeVar

FAST_ENV_VAR = "COURSE_FAST"
"""Set to ``1`` (the test command does) to shrink data and epochs; unset for the full run."""

DEVICE_ENV_VAR = "COURSE_DEVICE"
"""Set to ``cpu``, ``cuda``, ``cuda:1`` or ``mps`` to override the automatic choice."""

DATA_ENV_VAR = "COURSE_DATA_DIR"
"""Set to a folder to keep data sets, caches and checkpoints somewhere else."""

OFFLINE_ENV_VAR = "COURSE_OFFLINE"
"""Set to ``1`` to never try the network, even when it is there."""

T = TypeVar("T")


def fast_mode() -> bool:
    """True when the test command (or you) asked for the small, quick version of each run."""
    return os.environ.get(FAST_ENV_VAR, "").strip().lower() in {"1", "true", "yes", "on"}


def pick(full: T, fast: T) -> T:
    """Return ``full`` normally and ``fast`` in fast mode: ``EPOCHS = pick(full=10, fast=1)``."""
    return fast if fast_mode() else full


def get_device(prefer: str | None = None):
    """The device to train on: CUDA, then Apple's MPS, then the CPU.

    ``prefer`` (or the ``COURSE_DEVICE`` environment variable) overrides the choice;
    asking for a device that is not there raises an error that says what is.
    """
    import torch

    wanted = prefer or os.environ.get(DEVICE_ENV_VAR) or None
    if wanted:
        device = torch.device(wanted)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                f"Device {wanted!r} was asked for, but PyTorch sees no CUDA GPU here. "
                f"Unset {DEVICE_ENV_VAR} or pass prefer='cpu'."
            )
        if device.type == "mps" and not _mps_available():
            raise RuntimeError(
                f"Device {wanted!r} was asked for, but Apple's MPS backend is not available. "
                f"Unset {DEVICE_ENV_VAR} or pass prefer='cpu'."
            )
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def is_online(host: str = "download.pytorch.org", port: int = 443, timeout: float = 2.0) -> bool:
    """True when a TCP connection to ``host`` opens within ``timeout`` seconds.

    Never hangs: a blocked or absent network answers False within the timeout.
    ``COURSE_OFFLINE=1`` makes it answer False without trying.
    """
    if os.environ.get(OFFLINE_ENV_VAR, "").strip() in {"1", "true", "yes"}:
        return False
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


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


def repo_root() -> Path | None:
    """The course checkout this package was installed from, if it was installed editable."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "notebooks").is_dir() and (root / "pyproject.toml").is_file() else None


def data_dir() -> Path:
    """The folder for data sets, caches and checkpoints (created if missing).

    ``COURSE_DATA_DIR`` wins; otherwise ``data/`` in the course checkout; otherwise
    ``~/.cache/cnn-course``.
    """
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        path = Path(env).expanduser()
    elif (root := repo_root()) is not None:
        path = root / "data"
    else:
        path = Path.home() / ".cache" / "cnn-course"
    path.mkdir(parents=True, exist_ok=True)
    return path


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and PyTorch so that a run can be repeated."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def environment_report() -> dict[str, str]:
    """What notebook 00 prints: versions, device, network, data folder, mode."""
    import numpy as np
    import torch
    import torchvision

    device = get_device()
    if device.type == "cuda":
        device_text = f"cuda ({torch.cuda.get_device_name(device)})"
    else:
        device_text = device.type
    return {
        "python": sys.version.split()[0],
        "platform": f"{platform.system()} {platform.machine()}",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "device": device_text,
        "CPU threads": str(torch.get_num_threads()),
        "network": "online" if is_online() else "offline",
        "data folder": str(data_dir()),
        "mode": "fast (COURSE_FAST=1)" if fast_mode() else "full",
    }
