"""Digits: the generated set is deterministic and digit-like; MNIST files on disk are used as MNIST."""

from __future__ import annotations

import struct
import time

import pytest
import torch

from course_utils.data.digits import (
    GENERATED,
    DigitImages,
    digits_source,
    generate_digits,
    load_digits,
    mnist_on_disk,
)


def test_generated_digits_are_deterministic_balanced_images():
    images, labels = generate_digits(200, seed=3)
    assert images.shape == (200, 28, 28) and images.dtype == torch.uint8
    assert torch.bincount(labels, minlength=10).tolist() == [20] * 10
    again, again_labels = generate_digits(200, seed=3)
    assert torch.equal(images, again) and torch.equal(labels, again_labels)
    other, _ = generate_digits(200, seed=4)
    assert not torch.equal(images, other)
    # White strokes on a dark background, like MNIST: mostly dark, some bright ink.
    bright = (images > 128).float().mean().item()
    assert 0.05 < bright < 0.4
    assert generate_digits(10, seed=0, size=16)[0].shape == (10, 16, 16)


def test_generated_digits_differ_by_class():
    """The class-mean images must differ more between classes than within: there is signal."""
    images, labels = generate_digits(1000, seed=0)
    x = images.float() / 255
    means = torch.stack([x[labels == d].mean(0) for d in range(10)])
    between = torch.cdist(means.flatten(1), means.flatten(1))
    assert between[~torch.eye(10, dtype=torch.bool)].min() > 1.0


def test_load_generated_digits_gives_float_items_through_the_transform():
    digits = load_digits(source="generated", train_size=50, val_size=20, transform=lambda x: x * 2)
    assert digits.source.kind == GENERATED and "generated" in digits.describe()
    assert (len(digits.train), len(digits.val)) == (50, 20)
    image, label = digits.train[0]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32
    assert 0 <= label <= 9 and image.max() <= 2.0 and image.max() > 1.0  # transform applied
    # Training and validation images come from different seeds.
    assert not torch.equal(digits.train.images[:20], digits.val.images)


def test_offline_choice_is_fast_and_falls_back_to_generated(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    started = time.perf_counter()
    assert digits_source("auto", root=tmp_path) == GENERATED
    assert load_digits(train_size=10, val_size=10, root=tmp_path).source.kind == GENERATED
    with pytest.raises(RuntimeError, match="source='generated'"):
        load_digits(source="mnist", train_size=10, val_size=10, root=tmp_path)
    assert time.perf_counter() - started < 10
    with pytest.raises(ValueError, match="source must be one of"):
        digits_source("cifar")


def write_idx(path, data: torch.Tensor) -> None:
    """Write a tensor in MNIST's IDX format (what torchvision reads), gzip-free."""
    code = {torch.uint8: 0x08}[data.dtype]
    header = struct.pack(">HBB", 0, code, data.dim()) + b"".join(struct.pack(">I", d) for d in data.shape)
    path.write_bytes(header + data.numpy().tobytes())


def fake_mnist(root, n_train=30, n_test=10):
    """A tiny MNIST in torchvision's layout, made of generated digits (no download needed)."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images, labels = generate_digits(n, seed=n)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels.to(torch.uint8))
    return root


def test_mnist_on_disk_is_used_offline_through_torchvision(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    root = fake_mnist(tmp_path)
    assert mnist_on_disk(root)
    digits = load_digits(train_size=20, val_size=5, root=root)
    assert digits.source.name == "MNIST" and "MNIST" in digits.describe()
    assert isinstance(digits.train, DigitImages) and (len(digits.train), len(digits.val)) == (20, 5)
    image, label = digits.val[0]
    assert image.shape == (1, 28, 28) and 0 <= label <= 9
