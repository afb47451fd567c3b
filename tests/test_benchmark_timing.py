"""The benchmark's tools: timing of the data pipeline, and the pre-resized image cache."""

from __future__ import annotations

import os

import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, TensorDataset
from torchvision import transforms as T

from benchmarks.resized_cache import resized_copy, resized_copy_dir
from benchmarks.timing import TimedLoader, time_image_pipeline
from course_utils.data.flowers import flower_datasets
from course_utils.data.transforms import TransformSettings, eval_transform, train_transform


def test_the_timed_loader_yields_the_same_batches_and_counts_waiting():
    data = TensorDataset(torch.arange(10.0), torch.arange(10))
    plain = DataLoader(data, batch_size=4)
    timed = TimedLoader(plain)
    assert len(timed) == 3 and timed.dataset is data  # attributes pass through
    for _ in range(2):
        batches = list(timed)
        assert all(torch.equal(a[0], b[0]) for a, b in zip(batches, plain, strict=True))
    assert len(timed.passes) == 2 and timed.images == 20
    assert 0 < timed.waiting <= timed.seconds


def test_the_image_pipeline_is_timed_step_by_step(tmp_path, flower_folder):
    root = flower_folder(tmp_path / "f", sizes=[(120, 90), (90, 120)])
    sets = flower_datasets(root, train_transform(TransformSettings(image_size=32)), None)
    timing = time_image_pipeline(sets["train"])
    assert timing.images == 4 and timing.source_shorter_side == 90
    assert timing.decode_ms > 0 and timing.resize_ms > 0 and timing.transform_ms > 0  # times, not a race
    assert "decode" in timing.summary()


def test_the_resized_copy_matches_resize_never_enlarges_and_is_reused(tmp_path, flower_folder):
    root = flower_folder(tmp_path / "f", sizes=[(300, 200), (200, 301), (60, 50)])
    copy = resized_copy(root, 100, cache_dir=tmp_path / "cache", progress=False)
    assert copy == resized_copy_dir(root, 100, cache_dir=tmp_path / "cache")
    assert (copy / "cat_to_name.json").read_text() == (root / "cat_to_name.json").read_text()
    for original in sorted((root / "train").rglob("*.jpg")):
        made = copy / original.relative_to(root)
        with Image.open(original) as a, Image.open(made) as b:
            expected = T.Resize(100)(a).size if min(a.size) > 100 else a.size
            assert b.size == expected
    small = next(p for p in (root / "train").rglob("*.jpg") if Image.open(p).size == (60, 50))
    assert (copy / small.relative_to(root)).read_bytes() == small.read_bytes()  # copied, not re-encoded

    # the evaluation transform gives (nearly) the same tensor from the copy
    settings = TransformSettings(image_size=87)  # resize 100
    a = flower_datasets(root, None, eval_transform(settings))["valid"][0][0]
    b = flower_datasets(copy, None, eval_transform(settings))["valid"][0][0]
    assert a.shape == b.shape and (a - b).abs().mean() < 0.05

    stamp = os.stat(copy).st_mtime_ns
    assert resized_copy(root, 100, cache_dir=tmp_path / "cache", progress=False) == copy
    assert os.stat(copy).st_mtime_ns == stamp  # reused, not rebuilt
    assert resized_copy(root, 80, cache_dir=tmp_path / "cache", progress=False) != copy  # another size


def test_an_interrupted_copy_leaves_nothing_behind(tmp_path, monkeypatch, flower_folder):
    root = flower_folder(tmp_path / "f", sizes=[(300, 200), (200, 300)])

    def broken_save(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        resized_copy(root, 100, cache_dir=tmp_path / "cache", progress=False)
    assert not any((tmp_path / "cache").iterdir())


def test_bad_arguments_are_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="No folder"):
        resized_copy(tmp_path / "missing", 100)
    with pytest.raises(ValueError, match="shorter_side"):
        resized_copy(tmp_path, 4)
    with pytest.raises(ValueError, match="samples"):
        time_image_pipeline([])
