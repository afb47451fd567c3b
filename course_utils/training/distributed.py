"""Training on several processes with PyTorch's own engine: ``torch.distributed`` under ``torchrun``.

``torchrun --nproc_per_node=N`` starts N copies of the same command and tells each its place
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, read by :func:`course_utils.env.run_context` into the
run context). This module holds what the copies do differently from a single process:

- :func:`distributed_job` joins the process group (NCCL on CUDA, Gloo on the CPU) and leaves it;
- :func:`wrap_model` wraps the model in ``DistributedDataParallel``: every process computes the
  gradient of its share of the batch, and the gradients are averaged before each step, so the
  replicas stay identical;
- :func:`sharded_loaders` splits the data: a ``DistributedSampler`` for training (a new shuffle
  every epoch through :func:`set_epoch`), a :class:`ShardSampler` for evaluation that gives
  every image to exactly one process (no padding, so no image counts twice);
- :func:`reduce_metrics` adds up the loss and the counts of all processes, so an accuracy is
  the accuracy on the whole validation set, not on one process's share;
- :func:`check_agreement` stops with a clear error when the processes do not run the same
  configuration on the same files; :func:`weights_digest` lets them compare weights.

The batch size given to :func:`sharded_loaders` is the *global* batch: each process takes
``batch_size / world_size`` images per step, so a run on 1 or 8 processes takes the same
optimisation steps, and a checkpoint resumes on another number of processes.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler
from torch.utils.data.distributed import DistributedSampler

from course_utils.context import RunContext

__all__ = ["RANK_SEED_STRIDE", "RanksDisagree", "ShardSampler", "barrier", "check_agreement",
           "compare_fingerprints", "distributed_job", "gather_objects", "reduce_metrics",
           "set_epoch", "sharded_loaders", "weights_digest", "wrap_model"]

RANK_SEED_STRIDE = 100_003
"""Process ``rank`` seeds its random generators with ``seed + epoch + rank * RANK_SEED_STRIDE``:
its augmentations and dropout masks differ from the other processes' (rank 0 = one process)."""

TIMEOUT = datetime.timedelta(minutes=60)
"""How long a process waits for the others (rank 0 computes the stage-1 features alone)."""


class RanksDisagree(ValueError):
    """The processes of one job do not train the same thing (other data, other settings)."""


@contextlib.contextmanager
def distributed_job(context: RunContext) -> Iterator[None]:
    """Inside this block the process belongs to the job's process group (when distributed).

    The backend is NCCL on CUDA and Gloo on the CPU; ``torchrun`` supplies the rendezvous
    (``MASTER_ADDR``/``MASTER_PORT``, read by PyTorch). One process alone does nothing.
    """
    import torch.distributed as dist

    if not context.distributed or dist.is_initialized():
        yield
        return
    if not dist.is_available():
        raise RuntimeError("This PyTorch build has no torch.distributed; run with one process.")
    cuda = context.device.type == "cuda"
    if cuda:
        torch.cuda.set_device(context.device)
    dist.init_process_group("nccl" if cuda else "gloo", rank=context.rank, world_size=context.world_size,
                            timeout=TIMEOUT)
    try:
        yield
    finally:
        dist.destroy_process_group()


def wrap_model(model: nn.Module, context: RunContext) -> nn.Module:
    """``DistributedDataParallel(model)`` in a distributed job (the model already on its device), else ``model``.

    A model with nothing to train is returned as it is (DDP refuses it, and there is nothing to
    average). Its parameters and buffers are copied from rank 0 when it is wrapped.
    """
    if not context.distributed or not any(p.requires_grad for p in model.parameters()):
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [context.device.index] if context.device.type == "cuda" and context.device.index is not None else None
    return DistributedDataParallel(model, device_ids=ids)


class ShardSampler(Sampler[int]):
    """Indices ``rank, rank + world_size, …``: every item goes to exactly one process, none twice.

    ``DistributedSampler`` pads the data set so that every process gets as many items (it
    repeats the first ones); right for training, where processes must take the same number
    of steps, wrong for an accuracy, where a repeated image would count twice.
    """

    def __init__(self, size: int, rank: int = 0, world_size: int = 1) -> None:
        self.size, self.rank, self.world_size = size, rank, world_size

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.size, self.world_size))

    def __len__(self) -> int:
        return len(range(self.rank, self.size, self.world_size))


def sharded_loaders(datasets: Mapping[str, Dataset], *, batch_size: int, seed: int = 0,
                    context: RunContext) -> dict[str, DataLoader]:
    """DataLoaders for this process's share: ``"train"`` shuffled by a ``DistributedSampler``, the rest sharded.

    ``batch_size`` is the global batch (all processes together); it must divide by the number
    of processes. With one process this is an ordinary shuffled loader whose order depends on
    ``seed`` and the epoch only, the same order a job of N processes splits between them.
    """
    world = context.world_size
    if batch_size < world or batch_size % world:
        raise ValueError(f"The batch size ({batch_size}) is the global batch: it must be a multiple of the "
                         f"number of processes ({world}). Pass --batch-size {max(1, batch_size // world) * world}.")
    per_process = batch_size // world
    loaders = {}
    for split, dataset in datasets.items():
        sampler: Sampler[int]
        if split == "train":
            sampler = DistributedSampler(dataset, num_replicas=world, rank=context.rank, shuffle=True, seed=seed)
        else:
            sampler = ShardSampler(len(dataset), context.rank, world)  # type: ignore[arg-type]
        loaders[split] = DataLoader(dataset, batch_size=per_process, sampler=sampler,
                                    generator=torch.Generator().manual_seed(seed), **context.loader_kwargs())
    return loaders


def set_epoch(epoch: int, *loaders: Iterable) -> None:
    """Tell each loader's ``DistributedSampler`` the epoch, so each epoch has its own shuffle."""
    for loader in loaders:
        sampler = getattr(loader, "sampler", None)
        if callable(getattr(sampler, "set_epoch", None)):
            sampler.set_epoch(epoch)  # type: ignore[union-attr]


def reduce_metrics(context: RunContext, loss_sum: torch.Tensor, correct: torch.Tensor,
                   seen: int) -> tuple[float, int, int]:
    """(loss sum, correct, seen) over every process of the job (this process's alone when not distributed)."""
    if not context.distributed:
        return float(loss_sum.item()), int(correct.item()), seen
    import torch.distributed as dist

    totals = torch.stack([loss_sum.detach().double(), correct.double(),
                          torch.tensor(float(seen), dtype=torch.float64, device=loss_sum.device)])
    dist.all_reduce(totals)
    loss_total, correct_total, seen_total = totals.tolist()
    return loss_total, round(correct_total), round(seen_total)


def barrier(context: RunContext) -> None:
    """Wait until every process of the job arrives here (nothing to wait for when alone)."""
    if context.distributed:
        import torch.distributed as dist

        if context.device.type == "cuda":
            dist.barrier(device_ids=[context.device.index or 0])
        else:
            dist.barrier()


def gather_objects(context: RunContext, value: Any) -> list[Any]:
    """``value`` from every process, in rank order (``[value]`` when alone)."""
    if not context.distributed:
        return [value]
    import torch.distributed as dist

    gathered: list[Any] = [None] * context.world_size
    dist.all_gather_object(gathered, value)
    return gathered


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def compare_fingerprints(fingerprints: list[dict[str, str]]) -> None:
    """Raise :class:`RanksDisagree` naming each process and setting that differs from rank 0's."""
    problems = []
    for rank, theirs in enumerate(fingerprints[1:], start=1):
        differ = sorted(k for k in set(fingerprints[0]) | set(theirs) if fingerprints[0].get(k) != theirs.get(k))
        if differ:
            problems.append(f"rank {rank} differs from rank 0 in {', '.join(differ)}")
    if problems:
        raise RanksDisagree(
            "The processes of this job do not train the same thing: " + "; ".join(problems) + ". Start every "
            "process with the same command and options, on the same data (the same files on every machine), "
            "and the same course_utils version."
        )


def check_agreement(context: RunContext, settings: Mapping[str, Any]) -> dict[str, str]:
    """Check that every process has the same ``settings`` (configuration, file lists…); return the fingerprint.

    Each process hashes each setting; the hashes are gathered and compared, so a process that
    reads another data folder, or was started with other options, stops the job at once with
    an error naming the setting, instead of training on something else silently.
    """
    fingerprint = {key: _digest(value) for key, value in settings.items()}
    compare_fingerprints(gather_objects(context, fingerprint))
    return fingerprint


def weights_digest(state_dict: Mapping[str, torch.Tensor]) -> str:
    """A short hash of a model's weights (names and exact bytes): equal digests, equal weights."""
    digest = hashlib.sha256()
    for name, tensor in sorted(state_dict.items()):
        digest.update(name.encode())
        data = tensor.detach().to("cpu").contiguous()
        digest.update(str(data.dtype).encode())
        digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]

