"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Run every unit test on one PyTorch thread, then restore the setting.

    The tests use tiny tensors and models: threads gain nothing there and lose a lot when other
    work shares the CPU. One thread also makes results agree bit for bit with the subprocesses
    that the reliability tests start (they use one thread too).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def fresh_run_context():
    """Each test resolves the run context anew, so environment variables it sets take effect."""
    from course_utils.env import reset_context

    reset_context()
    yield
    reset_context()


@pytest.fixture
def context():
    """A run context on the CPU, as the environment describes it (data folder, fast mode, offline)."""
    from course_utils.env import run_context

    return run_context(device="cpu")


@pytest.fixture
def command_env(monkeypatch, tmp_path):
    """This process as the command (``python -m course_utils``) sees it: its own data folder,
    offline, on the CPU, not part of a torchrun job. Returns ``tmp_path``."""
    for name in ("COURSE_FLOWERS_DIR", "RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    return tmp_path


@pytest.fixture
def flower_folder():
    """A factory: ``flower_folder(root, {split: [class ids]}, names=..., sizes=[(w, h), ...])``.

    Writes a small folder in the notes' layout: in every split, every class gets one JPEG per
    size (solid colours that differ by class and image), and ``cat_to_name.json`` holds
    ``names`` (default: ``"flower <id>"``). Returns ``root``.
    """
    import json

    from PIL import Image

    def make(root, layout=None, *, names=None, sizes=((8, 8), (8, 8))):
        layout = layout or {"train": ["1", "2"], "valid": ["1", "2"]}
        for split, ids in layout.items():
            for class_id in ids:
                folder = root / split / class_id
                folder.mkdir(parents=True)
                for i, size in enumerate(sizes):
                    colour = (int(class_id) * 40 % 255 if class_id.isdigit() else 90, 100 * i % 255, 60)
                    Image.new("RGB", size, colour).save(folder / f"image_{i:03d}.jpg", quality=95)
        every_id = sorted({c for ids in layout.values() for c in ids})
        (root / "cat_to_name.json").write_text(json.dumps(names or {c: f"flower {c}" for c in every_id}))
        return root

    return make
