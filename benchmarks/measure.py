"""What the benchmark measures besides wall time: peak memory, the machine, the model's ceiling."""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import sys
import time
from dataclasses import dataclass

import torch
from torch import nn

# --------------------------------------------------------------------------------------
# Peak memory of one side
# --------------------------------------------------------------------------------------


class PeakMemory:
    """Peak memory between :meth:`start` and :meth:`stop`: host RSS, and CUDA memory when used.

    On Linux the process's high-water mark (``VmHWM``) is reset at the start by writing ``5``
    to ``/proc/self/clear_refs``, so each side gets its own peak. Elsewhere the peak is the
    process's peak so far (``ru_maxrss``), which can only grow: ``reset`` says which it is.
    DataLoader worker processes are not included.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.reset = False
        self.host_bytes = 0
        self.cuda_bytes = 0

    def start(self) -> PeakMemory:
        try:
            with open("/proc/self/clear_refs", "w") as file:
                file.write("5")
            self.reset = True
        except OSError:
            self.reset = False
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        return self

    def stop(self) -> PeakMemory:
        self.host_bytes = _host_peak_bytes()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.cuda_bytes = torch.cuda.max_memory_allocated(self.device)
        return self


def _host_peak_bytes() -> int:
    try:
        with open("/proc/self/status") as file:
            for line in file:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


# --------------------------------------------------------------------------------------
# The machine
# --------------------------------------------------------------------------------------


def machine_description(device: torch.device) -> dict[str, str]:
    """CPU, cores, load, device and versions: what a results table needs to be read."""
    from course_utils.env import cpu_count

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as file:
            cpu = next((line.split(":", 1)[1].strip() for line in file if line.startswith("model name")), cpu)
    except OSError:
        pass
    info = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "cpu": f"{cpu}, {cpu_count()} cores usable, torch threads: {torch.get_num_threads()}",
        "load average (1/5/15 min)": " / ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg")
        else "n/a",
        "device": device.type,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    if device.type == "cuda":
        info["device"] = f"cuda ({torch.cuda.get_device_name(device)})"
    return info


def load_average() -> float:
    """The 1-minute load average (how many processes wanted a core), or -1 where unknown."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else -1.0


# --------------------------------------------------------------------------------------
# The ceiling: forward + backward on random tensors
# --------------------------------------------------------------------------------------


@dataclass
class Ceiling:
    images_per_second: float
    steps: int
    batch_size: int
    image_size: int
    setting: str


def training_ceiling(model: nn.Module, *, batch_size: int, image_size: int, num_classes: int,
                     device: torch.device, channels_last: bool, dtype: torch.dtype | None,
                     steps: int = 5, warmup: int = 2) -> Ceiling:
    """Images/s of forward + backward + optimizer step on random tensors already on the device.

    No data loading, no metrics, no checkpoints: the fastest a training step of this model can
    go with these settings, to compare a training loop's images/s with. Every parameter
    trains (as in stage 2); the weights and ``requires_grad`` flags are restored afterwards.
    """
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    frozen = [p for p in model.parameters() if not p.requires_grad]
    for p in frozen:
        p.requires_grad = True
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model.to(device, memory_format=fmt).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-6)
    images = torch.randn(batch_size, 3, image_size, image_size, device=device).contiguous(memory_format=fmt)
    labels = torch.randint(0, num_classes, (batch_size,), device=device)
    criterion = nn.NLLLoss()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext():
            loss = criterion(model(images).float(), labels)
        loss.backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    _sync(device)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    seconds = time.perf_counter() - started
    model.load_state_dict(saved)
    for p in frozen:
        p.requires_grad = False
    setting = f"{'bf16' if dtype == torch.bfloat16 else 'fp16' if dtype == torch.float16 else 'fp32'}" \
              f"{', channels_last' if channels_last else ''}"
    return Ceiling(steps * batch_size / seconds, steps, batch_size, image_size, setting)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
