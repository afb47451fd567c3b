"""Checkpoints survive what learners do to them: SIGKILL during a save, SIGKILL or Ctrl-C
mid-epoch, files from the internet that carry code, checkpoints made for another model.

Real processes are killed here, not simulated: a checkpoint is only as safe as what is on the
disk after ``kill -9``. Run as a script (``python tests/test_reliability_checkpoints.py MODE
...``) this file is also the child process the tests start and kill.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils.env import run_context
from course_utils.storage.checkpoints import check_compatible, load_checkpoint, save_checkpoint
from course_utils.training.loop import fit

ROOT = Path(__file__).resolve().parent.parent
EPOCHS = 4
STOP_EPOCH, STOP_BATCH = 3, 2  # the children stop here: in the middle of epoch 3
STOP_LINE = "stopping-point reached"
HISTORY_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "best_acc", "best_epoch")


# --------------------------------------------------------------------------------------
# A small, real CNN problem (shared by the tests and the child processes)
# --------------------------------------------------------------------------------------


def quadrant_images(n: int, seed: int) -> TensorDataset:
    """8×8 noisy one-channel images; the label is the quadrant that holds a bright square."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    images = 1.2 * torch.randn(n, 1, 8, 8, generator=g)
    for i, label in enumerate(labels.tolist()):
        row, col = divmod(label, 2)
        images[i, 0, 4 * row:4 * row + 4, 4 * col:4 * col + 4] += 0.4  # hard enough to be unsure
    return TensorDataset(images, labels)


def small_cnn(seed: int = 0, classes: int = 4) -> nn.Module:
    """Convolution, BatchNorm and Dropout: a run that depends on every random generator."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.3), nn.Linear(4 * 4 * 4, classes),
    )


def optimizer_and_scheduler(model: nn.Module):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    return optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)


class Augmented(torch.utils.data.Dataset):
    """Random noise added to every image each time it is read: augmentation, drawn in a worker process."""

    def __init__(self, data: TensorDataset):
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        image, label = self.data[index]
        return image + 0.1 * torch.randn_like(image), label


def data_loaders() -> tuple[DataLoader, DataLoader]:
    """Shuffled, augmented in one worker process: resuming must reproduce every random draw."""
    train = DataLoader(Augmented(quadrant_images(192, seed=1)), batch_size=16, shuffle=True, num_workers=1)
    val = DataLoader(quadrant_images(64, seed=2), batch_size=32)
    return train, val


class StopsMidEpoch:
    """Wraps a loader; in epoch ``STOP_EPOCH`` after ``STOP_BATCH`` batches it announces
    that it has reached the stopping point and waits there to be killed or interrupted."""

    def __init__(self, loader: DataLoader):
        self.loader, self.epochs_started = loader, 0

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        self.epochs_started += 1
        for i, batch in enumerate(self.loader):
            if self.epochs_started == STOP_EPOCH and i == STOP_BATCH:
                print(STOP_LINE, flush=True)
                time.sleep(120)  # the test kills us long before this ends
            yield batch


def train(checkpoint: Path, *, resume: bool = False, stop_mid_epoch: bool = False, seed: int = 0):
    """The run every test compares: 4 epochs of ``small_cnn`` with a checkpoint per epoch."""
    context = run_context(device="cpu")
    train_loader, val_loader = data_loaders()
    if stop_mid_epoch:
        train_loader = StopsMidEpoch(train_loader)
    model = small_cnn(seed=seed)
    optimizer, scheduler = optimizer_and_scheduler(model)
    history = fit(model, train_loader, val_loader, epochs=EPOCHS, optimizer=optimizer,
                  scheduler=scheduler, checkpoint=checkpoint, resume=resume,
                  checkpoint_extra={"model_name": "small_cnn", "num_classes": 4}, progress=False, context=context)
    return model, history


def history_values(history) -> dict:
    return {key: getattr(history, key) for key in (*HISTORY_KEYS, "interrupted")}


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k].cpu(), b[k].cpu()) for k in a)


def child_main(checkpoint: str, weights: str) -> None:
    """The child process: train until the stopping point, wait there to be killed (SIGKILL) or
    interrupted (SIGINT); if fit returns, save the model's weights and print the history."""
    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    model, history = train(Path(checkpoint), stop_mid_epoch=True)
    save_checkpoint(weights, {"state_dict": model.state_dict()})
    print(json.dumps(history_values(history)), flush=True)


def start_child(*args: str | Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, __file__, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def wait_for_line(child: subprocess.Popen, line: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = child.stdout.readline()
        if got.strip() == line:
            return
        if not got and child.poll() is not None:
            raise AssertionError(f"child exited ({child.returncode}) before {line!r}: {child.stderr.read()}")
    child.kill()
    raise AssertionError(f"child did not print {line!r} within {timeout}s")


def last_json_line(text: str) -> dict:
    return json.loads([line for line in text.splitlines() if line.startswith("{")][-1])


# --------------------------------------------------------------------------------------
# 1. SIGKILL during a save leaves the old or the new checkpoint, never a broken one
# --------------------------------------------------------------------------------------

KILLS = 20


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (Linux, macOS)")
def test_sigkill_during_save_leaves_the_old_or_the_new_checkpoint(tmp_path):
    """A child saves a 4 MB checkpoint over and over and reports each completed save; it is
    killed with SIGKILL at a random moment, 20 times. After every kill the file must load and
    be exactly the last reported save or the one after it (renamed just before the kill)."""
    path = tmp_path / "model.pt"
    weights = [torch.full((1_000_000,), float(v)) for v in range(3)]  # made before forking
    rng = random.Random(0)
    last_saved = -1
    kills_mid_write = 0
    for _ in range(KILLS):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: save forever, report each completed save
            os.close(read_end)
            try:
                step = last_saved + 1
                while True:
                    save_checkpoint(path, {"step": step, "weights": weights[step % 3]})
                    os.write(write_end, f"{step}\n".encode())
                    step += 1
            finally:
                os._exit(0)
        os.close(write_end)
        time.sleep(rng.uniform(0.0, 0.15))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        with os.fdopen(read_end) as pipe:
            reported = [int(line) for line in pipe.read().split()]
        kills_mid_write += any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
        if not path.exists():  # killed before the very first save finished
            assert last_saved == -1 and not reported
            continue
        state = load_checkpoint(path)  # must never raise
        newest = reported[-1] if reported else last_saved
        assert state["step"] in (newest, newest + 1), (state["step"], newest)
        assert torch.equal(state["weights"], weights[state["step"] % 3])  # whole, not mixed
        last_saved = state["step"]
    assert last_saved > 0, "the child never completed a save"
    assert kills_mid_write > 0, "no kill landed inside a save: the test did not test anything"


# --------------------------------------------------------------------------------------
# 2. Killed mid-epoch (SIGKILL) or stopped (Ctrl-C), then resumed: the same history
# --------------------------------------------------------------------------------------


def test_kill_or_interrupt_mid_epoch_then_resume_gives_the_uninterrupted_history(tmp_path):
    """Two child processes train the same run and stop in the middle of epoch 3: one is killed
    with SIGKILL, the other gets SIGINT (what Jupyter's stop button sends). Both checkpoints
    then resume here to exactly the history and weights of an uninterrupted run."""
    killed = start_child(tmp_path / "killed.pt", tmp_path / "unused.pt")
    stopped = start_child(tmp_path / "stopped.pt", tmp_path / "stopped-weights.pt")
    try:
        straight_model, straight = train(tmp_path / "straight.pt")  # meanwhile, the reference run
        expected = history_values(straight)
        wait_for_line(killed, STOP_LINE)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        wait_for_line(stopped, STOP_LINE)
        stopped.send_signal(signal.SIGINT)
        out, err = stopped.communicate(timeout=60)
    finally:
        for child in (killed, stopped):
            if child.poll() is None:
                child.kill()
                child.wait()
    assert killed.returncode == -signal.SIGKILL

    # Ctrl-C: fit returned normally with the two complete epochs and the best weights loaded.
    assert stopped.returncode == 0, err
    assert "Interrupted during epoch 3" in out
    partial = last_json_line(out)
    assert partial["interrupted"] is True
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
        assert partial[key] == expected[key][:2], key
    stopped_checkpoint = load_checkpoint(tmp_path / "stopped.pt")
    assert stopped_checkpoint["epoch"] == 2
    assert stopped_checkpoint["best_epoch"] == partial["best_epoch"]
    weights_after_stop = load_checkpoint(tmp_path / "stopped-weights.pt")["state_dict"]
    # The best epoch's weights, not those of two batches into epoch 3.
    assert same_weights(weights_after_stop, stopped_checkpoint["state_dict"])

    # SIGKILL: the checkpoint on disk is the last complete epoch, whole, with no debris.
    assert load_checkpoint(tmp_path / "killed.pt")["epoch"] == 2
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

    # Both resume (from a different initialisation: it must not matter) to the uninterrupted run.
    for name in ("killed.pt", "stopped.pt"):
        model, history = train(tmp_path / name, resume=True, seed=123)
        resumed = history_values(history)
        for key in HISTORY_KEYS:
            assert resumed[key] == expected[key], (name, key)
        assert resumed["interrupted"] is False
        assert same_weights(model.state_dict(), straight_model.state_dict()), name
        assert same_weights(load_checkpoint(tmp_path / name)["last_state_dict"],
                            load_checkpoint(tmp_path / "straight.pt")["last_state_dict"]), name


# --------------------------------------------------------------------------------------
# 3. Loading never runs code from a file
# --------------------------------------------------------------------------------------


class CreatesAFile:
    """Unpickling this calls ``open(path, "w")``: a stand-in for any code an attacker likes."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def crafted_checkpoints(folder: Path, marker: Path) -> dict[str, Path]:
    """The same malicious payload in PyTorch's zip format and as a bare (legacy) pickle."""
    payload = {"state_dict": small_cnn().state_dict(), "epoch": 3, "surprise": CreatesAFile(marker)}
    zipped, legacy = folder / "downloaded.pt", folder / "downloaded.pth"
    torch.save(payload, zipped)
    with open(legacy, "wb") as file:
        pickle.dump(payload, file, protocol=2)
    return {"zip": zipped, "legacy pickle": legacy}


def test_crafted_pickles_are_real_and_are_refused_without_running(tmp_path):
    marker = tmp_path / "created-by-the-pickle.txt"
    files = crafted_checkpoints(tmp_path, marker)

    # The payload is real: an unsafe load does create the file ...
    torch.load(files["zip"], weights_only=False)
    assert marker.exists()
    marker.unlink()
    with open(files["legacy pickle"], "rb") as file:
        pickle.load(file)
    assert marker.exists()
    marker.unlink()

    # ... and the course's loader refuses both, says why, and runs nothing.
    for kind, path in files.items():
        with pytest.raises(pickle.UnpicklingError) as refused:
            load_checkpoint(path)
        message = str(refused.value)
        assert str(path) in message, kind
        assert "only load checkpoints you trust" in message, kind
        assert "weights_only" in message, kind
        assert not marker.exists(), f"{kind}: loading ran the file's code"


def test_resuming_from_a_crafted_checkpoint_runs_nothing(tmp_path):
    marker = tmp_path / "created-by-the-pickle.txt"
    path = crafted_checkpoints(tmp_path, marker)["zip"]
    with pytest.raises(pickle.UnpicklingError, match="only load checkpoints you trust"):
        train(path, resume=True)
    assert not marker.exists()


def test_a_crafted_file_in_the_weights_cache_runs_nothing(tmp_path, monkeypatch, context):
    """Learners copy weights into torch's cache to work offline. torchvision itself loads that
    cache with weights_only=False; the course must check the file first."""
    import torchvision

    from course_utils.models.build import build_model

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    weights = torchvision.models.get_model_weights("resnet18").DEFAULT
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    cached.parent.mkdir(parents=True)
    marker = tmp_path / "created-by-the-pickle.txt"
    torch.save({"fc.weight": torch.zeros(1000, 512), "surprise": CreatesAFile(marker)}, cached)
    with pytest.raises(pickle.UnpicklingError, match="only load checkpoints you trust"):
        build_model("resnet18", 3, context=context)
    assert not marker.exists()


def test_every_torch_load_in_the_course_is_weights_only():
    """Static check of the package: no torch.load (or hub loader) without weights_only=True."""
    import ast

    loaders = {"load", "load_state_dict_from_url", "load_url"}
    offenders = []
    for source in sorted((ROOT / "course_utils").rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = ast.unparse(node.func.value)
            if node.func.attr in loaders and owner.split(".")[0] == "torch":
                safe = any(k.arg == "weights_only" and isinstance(k.value, ast.Constant)
                           and k.value.value is True for k in node.keywords)
                if not safe:
                    offenders.append(f"{source.name}:{node.lineno}: {ast.unparse(node)}")
    assert not offenders, "torch.load without weights_only=True:\n" + "\n".join(offenders)


# --------------------------------------------------------------------------------------
# 4. A checkpoint for another model or other classes is refused, naming the mismatch
# --------------------------------------------------------------------------------------


def saved_run(path: Path, extra: dict, *, classes: int = 4) -> Path:
    context = run_context(device="cpu")
    train_loader, val_loader = data_loaders()
    model = small_cnn(classes=classes)
    optimizer, _ = optimizer_and_scheduler(model)
    fit(model, train_loader, val_loader, epochs=1, optimizer=optimizer,
        checkpoint=path, checkpoint_extra=extra, progress=False, context=context)
    return path


FLOWERS = ["pink primrose", "hard-leaved pocket orchid", "canterbury bells", "sweet pea"]


@pytest.mark.parametrize(
    ("expected", "pattern"),
    [
        ({"model_name": "resnet18"}, r"saved from model 'small_cnn', but you are loading it into 'resnet18'"),
        ({"num_classes": 102}, r"it has 4 classes, but you expect 102"),
        ({"class_names": FLOWERS[:3]}, r"it has 4 class names, but you pass 3"),
        ({"class_names": [*FLOWERS[:3], "english marigold"]},
         r"class 3 is 'sweet pea' in the checkpoint but 'english marigold' here"),
        ({"class_names": FLOWERS[::-1]}, r"same class names in a different order"),
    ],
    ids=["architecture", "number of classes", "class count", "class list", "class order"],
)
def test_a_checkpoint_for_something_else_is_refused_naming_the_mismatch(tmp_path, expected, pattern, context):
    path = saved_run(tmp_path / "flowers.pt",
                     {"model_name": "small_cnn", "num_classes": 4, "class_names": FLOWERS})
    before = path.read_bytes()
    with pytest.raises(ValueError, match=pattern) as refused:
        check_compatible(load_checkpoint(path), **expected)
    assert "train a new one" in str(refused.value)  # and it says what to do
    # fit(resume=True) refuses the same way, and leaves the checkpoint as it was.
    train_loader, val_loader = data_loaders()
    model = small_cnn()
    with pytest.raises(ValueError, match=pattern):
        fit(model, train_loader, val_loader, epochs=2, optimizer=optimizer_and_scheduler(model)[0], checkpoint=path, resume=True, progress=False,
            checkpoint_extra={"model_name": "small_cnn", "num_classes": 4, "class_names": FLOWERS,
                              **expected}, context=context)
    assert path.read_bytes() == before


def test_weights_of_another_shape_are_refused_with_the_layer_named(tmp_path, context):
    """A checkpoint without a description (someone else's file) into a model with another head:
    the error names the layer and both shapes."""
    path = saved_run(tmp_path / "ten-classes.pt", {}, classes=10)
    train_loader, val_loader = data_loaders()
    model = small_cnn(classes=4)
    with pytest.raises(ValueError, match=r"(?s)another model.*6\.weight.*\[10, 64\].*\[4, 64\].*resume=False"):
        fit(model, train_loader, val_loader, epochs=2, optimizer=optimizer_and_scheduler(model)[0], checkpoint=path, resume=True, progress=False, context=context)


if __name__ == "__main__":
    child_main(*sys.argv[1:])
