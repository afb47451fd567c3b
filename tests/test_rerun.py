"""Running a notebook again in the same checkout works: data, caches and checkpoints that
are already there are reused, not rebuilt and not corrupted, and what an interrupted run
left behind is cleaned up.

Each test does what a notebook cell does, twice (or after a kill), and compares the files on
the disk before and after.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import struct
import time
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils.env import run_context
from course_utils.storage.checkpoints import load_checkpoint
from course_utils.storage.folders import PARTIAL_MARKER
from course_utils.training.loop import fit

SIZE = 32  # synthetic flowers this small draw in a couple of seconds


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Every file under ``root``: its modification time (ns) and a hash of its bytes."""
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, hashlib.sha1(p.read_bytes()).hexdigest())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def no_network(monkeypatch):
    """Reusing what is on the disk must not need the network: any attempt fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network used: {args[:2]}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


# --------------------------------------------------------------------------------------
# Data sets
# --------------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (Linux, macOS)")
def test_synthetic_flowers_killed_while_drawing_then_drawn_once_and_reused(tmp_path, no_network):
    from course_utils.data.synthetic_flowers import make_synthetic_flowers, synthetic_flowers_dir

    final = synthetic_flowers_dir(tmp_path, image_size=SIZE)
    # A first run is killed (SIGKILL) while it draws: it leaves a partial folder, never `final`.
    pid = os.fork()
    if pid == 0:
        try:
            make_synthetic_flowers(tmp_path, image_size=SIZE, progress=False)
        finally:
            os._exit(0)
    deadline = time.monotonic() + 60
    while not any(len(list(p.rglob("*.jpg"))) > 20 for p in tmp_path.glob(f"*{PARTIAL_MARKER}*")):
        assert time.monotonic() < deadline, "the child never started drawing"
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    assert not final.exists() and list(tmp_path.glob(f"*{PARTIAL_MARKER}*"))

    # The next run cleans up and draws the whole set; the run after that reuses it untouched.
    root = make_synthetic_flowers(tmp_path, image_size=SIZE, progress=False)
    assert root == final and not list(tmp_path.glob(f"*{PARTIAL_MARKER}*"))
    before = snapshot(root)
    assert sum(name.endswith(".jpg") for name in before) == 12 * (30 + 10 + 10)
    started = time.monotonic()
    assert make_synthetic_flowers(tmp_path, image_size=SIZE, progress=False) == root
    assert time.monotonic() - started < 1.0  # nothing was drawn again
    assert snapshot(root) == before


def test_find_flowers_twice_reuses_the_downloaded_copy_without_the_network(tmp_path, monkeypatch, no_network):
    """A Flowers-102 folder that an earlier run downloaded is used again, offline, unchanged."""
    from PIL import Image

    from course_utils.data.flowers import find_flowers
    from course_utils.data.flowers102 import flowers102_names

    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("COURSE_FLOWERS_DIR", raising=False)
    official = tmp_path / "flowers102"
    for split in ("train", "valid"):
        for class_id in ("1", "2"):
            (official / split / class_id).mkdir(parents=True)
            Image.new("RGB", (40, 30), (int(class_id) * 90, 50, 20)).save(official / split / class_id / "a.jpg")
    import json

    (official / "cat_to_name.json").write_text(json.dumps(flowers102_names()))
    before = snapshot(official)
    first = find_flowers(download=True, progress=False)
    second = find_flowers(download=True, progress=False)
    assert first == second and first.kind == "download" and first.root == official
    assert snapshot(official) == before


def write_idx(path: Path, array: torch.Tensor) -> None:
    """A file in MNIST's own IDX format (what torchvision reads from MNIST/raw/)."""
    dims = tuple(array.shape)
    magic = 0x0800 | len(dims)  # unsigned bytes, len(dims) dimensions
    path.write_bytes(struct.pack(f">I{len(dims)}I", magic, *dims) + array.to(torch.uint8).numpy().tobytes())


def test_mnist_on_disk_is_reused_offline_and_left_unchanged(tmp_path, monkeypatch, no_network):
    from course_utils.data import digits

    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    raw = tmp_path / "mnist" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    for prefix, n in (("train", 100), ("t10k", 40)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", torch.randint(0, 256, (n, 28, 28), generator=g))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", torch.arange(n) % 10)
    before = snapshot(tmp_path)
    first = digits.load_digits(train_size=50, val_size=20)
    second = digits.load_digits(train_size=50, val_size=20)
    assert first.source == second.source and first.source.name == "MNIST"
    assert torch.equal(first.train.images, second.train.images)
    assert torch.equal(first.val.labels, second.val.labels)
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------


def tiny_run(checkpoint: Path, *, epochs: int, resume: bool):
    context = run_context(device="cpu")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 2))
    g = torch.Generator().manual_seed(1)
    points = torch.randn(96, 2, generator=g)
    labels = (points[:, 0] > 0).long()
    train = DataLoader(TensorDataset(points, labels), batch_size=16, shuffle=True)
    val = DataLoader(TensorDataset(points[:32], labels[:32]), batch_size=32)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    history = fit(model, train, val, epochs=epochs, optimizer=optimizer,
                  checkpoint=checkpoint, resume=resume, progress=False, context=context)
    return model, history


def test_rerunning_a_training_cell_reuses_or_rewrites_its_checkpoint_whole(tmp_path):
    path = tmp_path / "checkpoints" / "run.pt"
    model, history = tiny_run(path, epochs=3, resume=True)  # first run: nothing to resume yet
    saved = path.read_bytes()

    # Run the same cell again: everything is done, so nothing trains and nothing is written.
    again_model, again = tiny_run(path, epochs=3, resume=True)
    assert path.read_bytes() == saved
    assert again.train_loss == history.train_loss and again.best_epoch == history.best_epoch
    assert all(torch.equal(a, b) for a, b in zip(again_model.state_dict().values(),
                                                 model.state_dict().values(), strict=True))

    # Ask for more epochs: it continues from the checkpoint; the first three are kept.
    longer_model, longer = tiny_run(path, epochs=5, resume=True)
    assert longer.epochs == 5 and longer.train_loss[:3] == history.train_loss
    assert load_checkpoint(path)["epoch"] == 5

    # Start afresh over the same file (resume=False): it is overwritten whole, never mixed.
    fresh_model, fresh = tiny_run(path, epochs=3, resume=False)
    assert fresh.train_loss == history.train_loss
    state = load_checkpoint(path)
    assert state["epoch"] == 3 and state["history"]["train_loss"] == history.train_loss
    assert [p.name for p in path.parent.iterdir()] == ["run.pt"]  # no temporary files left


# --------------------------------------------------------------------------------------
# Caches
# --------------------------------------------------------------------------------------


def test_the_resized_copy_is_built_once_and_reused(tmp_path, flower_folder):
    from benchmarks.resized_cache import resized_copy

    root = flower_folder(tmp_path / "flowers", sizes=[(48, 40), (56, 40), (64, 40)])
    first = resized_copy(root, 24, cache_dir=tmp_path / "cache", progress=False)
    before = snapshot(first)
    second = resized_copy(root, 24, cache_dir=tmp_path / "cache", progress=False)
    assert second == first and snapshot(second) == before
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [first.name]  # one copy, no debris


def test_cached_features_are_reused_and_a_damaged_cache_is_rebuilt(tmp_path, flower_folder, context):
    from course_utils.data.flowers import FlowerFolder
    from course_utils.data.transforms import TransformSettings, eval_transform
    from course_utils.models.heads import record_head
    from course_utils.transfer.features import cached_features

    root = flower_folder(tmp_path / "flowers", sizes=[(48, 40), (56, 40), (64, 40)])
    dataset = FlowerFolder(root / "train", eval_transform(TransformSettings(image_size=32)))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    record_head(model, "4")
    kwargs = {"cache_dir": tmp_path / "features", "progress": False, "context": context}

    computed = cached_features(model, dataset, **kwargs)
    assert not computed.from_cache
    reused = cached_features(model, dataset, **kwargs)  # the notebook run again
    assert reused.from_cache and torch.equal(reused.features, computed.features)
    assert reused.seconds == 0 and reused.cold_seconds == computed.seconds > 0  # the cold cost is remembered

    computed.path.write_bytes(computed.path.read_bytes()[:100])  # a cache file cut short (disk full, kill)
    rebuilt = cached_features(model, dataset, **kwargs)
    assert not rebuilt.from_cache and torch.equal(rebuilt.features, computed.features)
    assert cached_features(model, dataset, **kwargs).from_cache  # and the file is whole again
