"""Checkpoints are written atomically, loaded safely, and checked against the model at hand."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from course_utils.storage.checkpoints import check_compatible, load_checkpoint, save_checkpoint


class NotATensor:
    """An arbitrary object: pickling it stores a reference to code, which weights_only refuses."""

    def __init__(self):
        self.payload = 42


def test_round_trip_keeps_tensors_and_plain_values(tmp_path):
    state = {
        "state_dict": {"w": torch.arange(6.0).view(2, 3)},
        "best_acc": 0.75,
        "class_names": ["daisy", "rose"],
        "rng": (3, (1, 2, 3), None),
        "nested": {"epoch": 4, "ok": True},
    }
    path = save_checkpoint(tmp_path / "sub" / "ck.pt", state)
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["state_dict"]["w"], state["state_dict"]["w"])
    assert loaded["best_acc"] == 0.75 and loaded["class_names"] == ["daisy", "rose"]
    assert loaded["rng"] == (3, (1, 2, 3), None)
    assert loaded["nested"] == {"epoch": 4, "ok": True}


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"version": 1, "w": torch.ones(3)})

    def broken_save(obj, file, *args, **kwargs):
        file.write(b"half a checkpoint")
        raise KeyboardInterrupt  # a learner pressing stop in the middle of a save

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"version": 2, "w": torch.zeros(3)})
    monkeypatch.undo()

    assert load_checkpoint(path)["version"] == 1  # the previous complete checkpoint survives
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt"]  # no temporary file left


def test_save_refuses_objects_weights_only_loading_would_refuse(tmp_path):
    with pytest.raises(TypeError, match=r"checkpoint\['extra'\]\['transform'\].*NotATensor"):
        save_checkpoint(tmp_path / "ck.pt", {"extra": {"transform": NotATensor()}})
    with pytest.raises(TypeError, match=r"checkpoint\['best_acc'\] is a numpy.float64"):
        save_checkpoint(tmp_path / "ck.pt", {"best_acc": np.float64(0.9)})  # pickles as NumPy code
    assert not any(tmp_path.iterdir())


def test_load_refuses_files_that_contain_code(tmp_path):
    path = tmp_path / "unsafe.pt"
    torch.save({"obj": NotATensor()}, path)  # a plain torch.save pickles the object
    with pytest.raises(pickle.UnpicklingError, match="only load checkpoints you trust"):
        load_checkpoint(path)


def test_load_explains_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="No checkpoint file at .*missing.pt.*Train first"):
        load_checkpoint(tmp_path / "missing.pt")


def test_load_explains_a_truncated_file(tmp_path):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"w": torch.randn(1000)})
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(RuntimeError, match="could not be read as a PyTorch checkpoint"):
        load_checkpoint(path)


def test_check_compatible_names_each_mismatch():
    checkpoint = {"extra": {"model_name": "resnet18", "class_names": ["a", "b", "c"]}}
    check_compatible(checkpoint, model_name="resnet18", num_classes=3, class_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="saved from model 'resnet18'.*'vgg16'"):
        check_compatible(checkpoint, model_name="vgg16")
    with pytest.raises(ValueError, match="has 3 classes, but you expect 102"):
        check_compatible(checkpoint, num_classes=102)
    with pytest.raises(ValueError, match="different order"):
        check_compatible(checkpoint, class_names=["b", "a", "c"])
    with pytest.raises(ValueError, match="class 2 is 'c' in the checkpoint but 'x' here"):
        check_compatible(checkpoint, class_names=["a", "b", "x"])
    with pytest.raises(ValueError, match="does not record a model name"):
        check_compatible({"state_dict": {}}, model_name="resnet18")
