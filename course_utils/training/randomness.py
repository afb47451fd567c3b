"""Random generators that a run can save and restore, so a resumed run repeats exactly.

``fit`` reseeds Python, NumPy, PyTorch and each DataLoader's own generator at the start of
every epoch (:func:`reseed`), and saves the generators' states in every checkpoint as tensors
and plain values (:func:`rng_state`), which :func:`set_rng_state` puts back on resume.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch

from course_utils.env import seed_everything

__all__ = ["reseed", "rng_state", "set_rng_state"]


def reseed(seed: int, *loaders: Iterable) -> None:
    """Seed every random generator an epoch uses, including a loader's own generator."""
    seed_everything(seed)
    for loader in loaders:
        for owner in (loader, getattr(loader, "sampler", None)):
            generator = getattr(owner, "generator", None)
            if isinstance(generator, torch.Generator):
                generator.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """The random generators' states as tensors and plain values (weights_only-loadable)."""
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    assert isinstance(keys, np.ndarray)
    version, internal, gauss_next = random.getstate()
    return {
        "python": {"version": version, "state": list(internal), "gauss_next": gauss_next},
        "numpy": {"name": str(name), "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: Mapping[str, Any] | None) -> None:
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
