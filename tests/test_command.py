"""The command line, on one process and on two under torchrun (Gloo, CPU), with real training.

Small on purpose: the course's synthetic flowers at 32 px, 4 training and 4 validation images
per class (12 classes), EfficientNet-Lite0 with its ImageNet weights, a global batch of 8, two
stage-1 epochs on cached features and one or two stage-2 epochs. Two ``torchrun`` jobs are
started (a run, then a resume); everything else runs in this process.
"""

from __future__ import annotations

import io
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils.command.from_checkpoint import evaluate_checkpoint
from course_utils.command.main import main
from course_utils.data.flowers import flower_datasets
from course_utils.data.synthetic_flowers import make_synthetic_flowers, species_names
from course_utils.env import run_context
from course_utils.models.build import build_model
from course_utils.storage.checkpoints import TrainingState, check_compatible
from course_utils.training.distributed import (
    RanksDisagree,
    ShardSampler,
    check_agreement,
    compare_fingerprints,
    sharded_loaders,
    weights_digest,
)

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ["--image-size", "32", "--batch-size", "8", "--stage1-epochs", "2"]
VALID_IMAGES = 4 * 12


@pytest.fixture(scope="module")
def flowers(tmp_path_factory) -> Path:
    return make_synthetic_flowers(tmp_path_factory.mktemp("flowers"), image_size=32, per_class=(4, 4, 1),
                                  progress=False)


def torchrun(args: list[str], data_dir: Path, nproc: int = 2) -> str:
    """``torchrun --nproc_per_node=nproc -m course_utils ...`` on the CPU; its stdout (fails on an error)."""
    env = {k: v for k, v in os.environ.items() if k not in {"COURSE_FLOWERS_DIR", "RANK", "WORLD_SIZE", "LOCAL_RANK"}}
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]), COURSE_DATA_DIR=str(data_dir),
               COURSE_OFFLINE="1", COURSE_FAST="1", COURSE_DEVICE="cpu", OMP_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
         "-m", "course_utils", *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def two_processes(flowers, tmp_path_factory):
    """A two-process job (stage 2: one epoch), then a two-process resume to two epochs."""
    base = tmp_path_factory.mktemp("ddp")
    run = base / "run"
    first = torchrun(["train", str(flowers), *RECIPE, "--stage2-epochs", "1", "--out", str(run)], base / "data")
    shutil.copytree(run, base / "after-epoch-1")
    resumed = torchrun(["train", str(flowers), *RECIPE, "--stage2-epochs", "2", "--out", str(run), "--resume"],
                       base / "data")
    return {"first": first, "resumed": resumed, "epoch1": base / "after-epoch-1", "run": run}


def digest_line(stdout: str) -> tuple[str, int]:
    found = re.search(r"weights: (\w+) on (\d+) process\(es\), identical", stdout)
    assert found, stdout
    return found.group(1), int(found.group(2))


def test_two_processes_train_one_model_whose_checkpoint_the_notebook_loads(two_processes, flowers, command_env, context):
    # Both ranks ended with the same weights (each rank's digest is gathered and compared in the
    # job), and they are the checkpoint's best weights.
    digest, ranks = digest_line(two_processes["first"])
    saved = TrainingState.load(two_processes["epoch1"] / "stage2.pt")
    assert ranks == 2 and digest == weights_digest(saved.state_dict)
    assert saved.epoch == 1 and len(saved.history["val_acc"]) == 1

    # Notebook 06's code loads it.
    model = build_model(saved.extra["model_name"], saved.extra["num_classes"], pretrained=False, context=context)
    model.load_state_dict(saved.state_dict)
    names = flower_datasets(flowers)["train"].class_names
    check_compatible(saved.to_dict(), model_name="efficientnet_lite0", class_names=names)

    # The validation accuracy the job reported (summed over both ranks' shards) is that of the
    # whole validation set: a single-process evaluation of the checkpoint counts the same images right.
    for stage in ("stage1", "stage2"):
        state = TrainingState.load(two_processes["epoch1"] / f"{stage}.pt")
        report = evaluate_checkpoint(two_processes["epoch1"] / f"{stage}.pt", flowers, context=run_context())
        assert len(report.predictions.targets) == VALID_IMAGES
        assert round(state.best_acc * VALID_IMAGES) == round(report.accuracy * VALID_IMAGES), stage
    assert report.top5 >= report.accuracy


def test_a_two_process_run_resumes_from_its_saved_epoch(two_processes):
    out = two_processes["resumed"]
    assert "stage 1: finished" in out and "Resuming from" in out and "1 epoch(s) done" in out
    first = TrainingState.load(two_processes["epoch1"] / "stage2.pt").history
    resumed = TrainingState.load(two_processes["run"] / "stage2.pt")
    assert resumed.epoch == 2 and len(resumed.history["val_acc"]) == 2
    assert resumed.history["train_loss"][0] == first["train_loss"][0]  # epoch 1 kept, not retrained
    assert resumed.history["val_acc"][0] == first["val_acc"][0]
    assert resumed.history["train_loss"][1] != first["train_loss"][0]
    assert digest_line(out)[1] == 2


def test_one_process_resumes_a_two_process_checkpoint(two_processes, flowers, command_env, capsys):
    run = command_env / "run"
    shutil.copytree(two_processes["run"], run)
    before = TrainingState.load(run / "stage2.pt").history
    assert main(["train", str(flowers), *RECIPE, "--stage2-epochs", "3", "--out", str(run), "--resume"]) == 0
    out = capsys.readouterr().out
    assert "2 epoch(s) done" in out and digest_line(out)[1] == 1
    after = TrainingState.load(run / "stage2.pt")
    assert after.epoch == 3 and after.history["val_acc"][:2] == before["val_acc"]


def test_one_and_two_processes_with_the_same_global_batch_agree(two_processes, flowers, command_env, capsys):
    """Same recipe, same global batch of 8: 1 process × 8 images or 2 × 4 per step.

    Stage 1 (rank 0 alone, on cached features) is the same computation: bit-identical weights.
    Stage 2 takes the same global batches in the same order (the samplers split one shuffle), and
    BatchNorm is frozen, so the two runs differ only in their random augmentations and in float
    rounding. That is the noise: whichever random draws a run gets, its accuracy on n validation
    images has a binomial standard error sqrt(p(1-p)/n); two such runs differ by less than
    2·sqrt(2)·SE (95 %) unless something else differs. With n = 48 that is about 0.2.
    """
    run = command_env / "one"
    assert main(["train", str(flowers), *RECIPE, "--stage2-epochs", "1", "--out", str(run)]) == 0
    assert digest_line(capsys.readouterr().out)[1] == 1
    one = {s: TrainingState.load(run / f"{s}.pt") for s in ("stage1", "stage2")}
    two = {s: TrainingState.load(two_processes["epoch1"] / f"{s}.pt") for s in ("stage1", "stage2")}
    assert weights_digest(one["stage1"].state_dict) == weights_digest(two["stage1"].state_dict)
    p1, p2 = one["stage2"].best_acc, two["stage2"].best_acc
    p = (p1 + p2) / 2
    noise = 2 * math.sqrt(2 * max(p * (1 - p), 0.05) / VALID_IMAGES)
    assert abs(p1 - p2) <= noise, (p1, p2, noise)
    assert min(p1, p2) > 3 / 12  # and both learned: over three times chance (12 classes)


def test_evaluate_and_predict_subcommands(two_processes, flowers, command_env, capsys):
    checkpoint = two_processes["epoch1"] / "stage2.pt"
    assert main(["evaluate", str(checkpoint), str(flowers)]) == 0
    out = capsys.readouterr().out
    report = evaluate_checkpoint(checkpoint, flowers, context=run_context())
    assert f"accuracy {report.accuracy:.4f}  top-5 {report.top5:.4f}" in out
    assert all(name in out for name in species_names())
    assert sum(score.total for score in report.per_class) == VALID_IMAGES
    assert sum(score.correct for score in report.per_class) == round(report.accuracy * VALID_IMAGES)

    assert main(["evaluate", str(checkpoint)]) == 0  # the data it was trained on, recorded in the checkpoint
    assert f"accuracy {report.accuracy:.4f}" in capsys.readouterr().out

    images = sorted((flowers / "test").rglob("*.jpg"))[:2]
    assert main(["predict", str(checkpoint), *map(str, images)]) == 0
    out = capsys.readouterr().out
    ranked = re.findall(r"^  (\d)\. (.+?)\s+([\d.]+)%$", out, flags=re.M)
    assert len(ranked) == 10 and [int(r[0]) for r in ranked[:5]] == [1, 2, 3, 4, 5]
    assert {r[1] for r in ranked} <= set(species_names())
    assert [float(r[2]) for r in ranked[:5]] == sorted((float(r[2]) for r in ranked[:5]), reverse=True)

    assert main(["evaluate", str(checkpoint), str(flowers), "--split", "train"]) == 1
    assert "no 'train' split to evaluate" in capsys.readouterr().err


def test_a_bad_photo_and_a_code_pickle_get_one_line_each_and_the_good_photo_is_predicted(
        two_processes, flowers, command_env, capsys):
    checkpoint = two_processes["epoch1"] / "stage2.pt"
    good = sorted((flowers / "test").rglob("*.jpg"))[0]
    bad = command_env / "holiday.jpg"
    bad.write_text("<html>this page was saved with an image's name</html>")
    assert main(["predict", str(checkpoint), str(bad), str(good), str(flowers / "no-such.jpg")]) == 1
    out, err = capsys.readouterr()
    assert out.startswith(str(good)) and "  1. " in out  # the good photo is predicted
    lines = err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("python -m course_utils predict: error: ") for line in lines)
    assert "holiday.jpg" in lines[0] and "no-such.jpg" in lines[1] and "Traceback" not in err

    import torch

    pickled = command_env / "downloaded.pt"
    torch.save({"state_dict": {}, "note": Path("code, not a tensor")}, pickled)  # unpickling it would build a Path
    done = subprocess.run([sys.executable, "-m", "course_utils", "evaluate", str(pickled), str(flowers)],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("python -m course_utils evaluate: error: ") and "only load checkpoints you trust" in line


def test_bad_options_get_a_clear_error(flowers, command_env, capsys):
    assert main(["train", str(flowers), "--batch-size", "8", "--stage1-augment"]) == 1
    assert "error: stage1_augment needs stage1_features=False (--no-stage1-features)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "torchrun" in capsys.readouterr().out


def test_train_help_lists_every_recipe_setting_generated_from_the_config(capsys):
    import dataclasses

    from course_utils.command.options import add_dataclass_options, option_name
    from course_utils.transfer.recipe import TransferConfig

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for field in dataclasses.fields(TransferConfig):
        assert option_name(field) in text, f"TransferConfig.{field.name} has no option in train --help"
        assert field.metadata["help"].split()[0] in text

    @dataclasses.dataclass
    class Undocumented:
        new_setting: int = 3  # a field added without its help text

    import argparse

    with pytest.raises(TypeError, match="new_setting has no help text"):
        add_dataclass_options(argparse.ArgumentParser(), Undocumented)


def test_a_log_file_gets_plain_progress_lines(flowers, command_env, monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr(sys, "stdout", log)  # not a terminal: what `... train > run.log` sees
    assert main(["train", str(flowers), *RECIPE, "--stage2-epochs", "1", "--out", str(command_env / "log")]) == 0
    text = log.getvalue()
    assert "\r" not in text
    assert re.search(r"^train features: 100% \(\d+/\d+\) after \d+ s$", text, flags=re.M), text
    assert re.search(r"^epoch 1 train: \d+% \(", text, flags=re.M) and "epoch 1/1  train loss" in text


def test_ranks_that_disagree_stop_with_a_clear_error():
    same = {"config": "a1", "files": "b2"}
    compare_fingerprints([same, dict(same)])
    with pytest.raises(RanksDisagree, match="rank 2 differs from rank 0 in files"):
        compare_fingerprints([same, dict(same), {"config": "a1", "files": "c3"}])
    alone = run_context(device="cpu")
    assert check_agreement(alone, {"config": {"lr": 0.1}}) == check_agreement(alone, {"config": {"lr": 0.1}})


def test_shards_cover_every_image_once_and_the_batch_is_global(monkeypatch, tmp_path):
    shards = [list(ShardSampler(10, rank, 3)) for rank in range(3)]
    assert sorted(i for shard in shards for i in shard) == list(range(10))
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    # a command whose output is not a terminal (a log file) prints lines, not bars
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert run_context(device="cpu", command=True).progress == "log" and run_context(device="cpu").bars
    for name, value in {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}.items():
        monkeypatch.setenv(name, value)
    context = run_context(device="cpu", command=True)
    assert (context.rank, context.world_size, context.local_rank, context.distributed) == (1, 2, 1, True)
    assert not context.is_main and context.progress == "off"  # rank 1 prints nothing
    loaders = sharded_loaders({"train": list(range(10)), "valid": list(range(5))}, batch_size=4, context=context)
    assert loaders["train"].batch_size == 2 and list(loaders["valid"].sampler) == [1, 3]
    with pytest.raises(ValueError, match="multiple of the number of processes"):
        sharded_loaders({"train": list(range(10))}, batch_size=3, context=context)
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(ValueError, match="RANK < WORLD_SIZE"):
        run_context(device="cpu")
