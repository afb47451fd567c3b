"""A smoke run of ``python -m benchmarks``: tiny images, both stages, both sides, every number reported.

The real measurements (minutes) are made by ``make bench`` and recorded in benchmarks/RESULTS.md;
this only shows that the command works end to end and reports what it promises.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_benchmark_command_runs_both_sides_of_both_stages(tmp_path):
    env = {**os.environ, "COURSE_DATA_DIR": str(tmp_path / "data"), "COURSE_FAST": "1", "COURSE_OFFLINE": "1",
           "COURSE_DEVICE": "cpu"}
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--data", "synthetic", "--no-progress", "--threads", "1",
         "--views", "2", "--json", str(tmp_path / "r.json"), "--markdown", str(tmp_path / "r.md")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads((tmp_path / "r.json").read_text())
    (data,) = report["datasets"]
    sides = {(r["stage"], r["side"]): r for r in data["results"]}
    assert set(sides) == {("stage 1", "notes loop"), ("stage 1", "course"), ("stage 1", "course, features cached"),
                          ("stage 1", "course, 2 augmented views"), ("stage 2", "notes loop"),
                          ("stage 2", "course")}
    for r in sides.values():
        assert r["seconds"] > 0 and r["images_per_second"] > 0 and 0 <= r["val_acc"] <= 1
        assert 0 <= r["waiting_fraction"] <= 1 and r["peak_host"] > 0
    assert "full model on validation images" in sides[("stage 1", "course")]["detail"]
    assert sides[("stage 1", "course, features cached")]["detail"] == "features loaded from the cache"
    assert data["image_timing"]["decode_ms"] > 0 and data["ceiling"][0]["images_per_second"] > 0
    assert any("stage 1:" in v and "less wall time" in v for v in data["verdicts"])
    assert any("stage 2:" in v and "images/s" in v for v in data["verdicts"])
    table = (tmp_path / "r.md").read_text()
    assert "| stage 2 | course |" in table and report["machine"]["cpu"] in table


def test_a_missing_data_set_is_skipped_with_a_message(capsys):
    from benchmarks.__main__ import main

    assert main(["--data", "/no/such/folder", "--no-progress"]) == 1
    assert "[skip] /no/such/folder" in capsys.readouterr().out


def test_the_reference_loop_keeps_the_notes_transforms():
    """The baseline must transform images exactly as the course does, or the comparison means nothing."""
    from benchmarks.__main__ import _check_same_transforms
    from benchmarks.sides import Config

    for size in (64, 224):
        _check_same_transforms(Config(image_size=size))


def test_the_command_explains_itself(capsys):
    from benchmarks.__main__ import parse_args

    with pytest.raises(SystemExit) as exit_:
        parse_args(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "--image-size" in text and "--quick" in text and "--compile" in text


@pytest.mark.skipif(not Path("/proc/self/smaps_rollup").exists(), reason="needs Linux's /proc")
def test_the_test_run_meter_sees_memory_held_by_a_grandchild():
    """benchmarks.test_run sums the memory of every process the test command starts; a grandchild
    (like a notebook kernel under pytest) holding 300 MB must show up in the peak."""
    import time

    from benchmarks.test_run import GIB, TreeMemory

    hold = "b = b'x' * (300 * 1024 * 1024); import time; time.sleep(2)"
    child = subprocess.Popen([sys.executable, "-c",
                              f"import subprocess, sys; subprocess.run([sys.executable, '-c', {hold!r}])"])
    meter = TreeMemory(child.pid, every=0.05)
    meter.start()
    child.wait()
    time.sleep(0.1)
    meter.stop()
    assert meter.peak_pss >= 0.29 * GIB and meter.peak_rss >= meter.peak_pss


def test_the_test_run_report_marks_each_target():
    from benchmarks.test_run import report

    result = {"status": 0, "wall_s": 21 * 60.0, "tests_s": 300.0, "load_average": (1.0, 1.0, 1.0),
              "notebooks_s": {"notebooks/00-a.ipynb": 20.0, "notebooks/01-b.ipynb": 30.5},
              "peak_pss_gib": 1.5, "peak_rss_gib": 2.5}
    text = report(result)
    assert "| all notebooks | 50.5 |" in text
    assert "[FAIL] the whole `make test`: 21.0 min" in text
    assert "[PASS] all notebooks under nbval: 0.8 min" in text
    assert "[PASS] peak memory of the run, all its processes together: 1.50 GiB" in text


def test_the_backbone_probe_reports_every_combination_and_its_paired_noise(tmp_path, monkeypatch, capsys):
    import torch

    from benchmarks.backbones import main, paired_noise
    from course_utils.data.synthetic_flowers import make_synthetic_flowers

    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    folder = make_synthetic_flowers(tmp_path / "flowers", image_size=32, per_class=(5, 2, 1), progress=False)
    main([str(folder), "--size", "32"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("lite")]
    assert len(rows) == 7  # three alone, three pairs, all three
    assert "lite0 + lite1 + lite2" in rows[-1] and rows[0].count("±") == 1 and rows[-1].count("±") == 2
    same = torch.tensor([True, False, True])
    assert paired_noise(same, same) == 0  # a classifier does not differ from itself
    assert paired_noise(same, ~same) > 0


def test_the_stage2_recipes_run_resume_and_choose_by_validation(tmp_path, context):
    """``python -m benchmarks.stage2_recipes --quick``: every recipe on every seed from one stage-1
    checkpoint, a result file per run, a second call that trains nothing, and test photos read only
    for stage 1 and the chosen recipe."""
    import torch

    from benchmarks.stage2_recipes import MODEL, Recipe, recipe_optimizer
    from course_utils.models.build import build_model

    env = {**os.environ, "COURSE_DATA_DIR": str(tmp_path / "data"), "COURSE_FAST": "1", "COURSE_OFFLINE": "1",
           "COURSE_DEVICE": "cpu"}
    out = tmp_path / "runs"
    command = [sys.executable, "-m", "benchmarks.stage2_recipes", "--quick", "--out", str(out), "--no-progress",
               "--threads", "1", "--recipes", "notes", "last stage", "discriminative", "warm-up"]
    first = subprocess.run([*command, "--markdown", str(tmp_path / "r.md")], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    results = [json.loads(p.read_text()) for p in sorted(out.glob("seed-*/*/result.json"))]
    names = {r["recipe"]["name"] for r in results}
    assert names == {"notes", "last stage", "discriminative", "warm-up"}
    assert len(results) == 2 * len(names) + 2  # two seeds of each, and of the chosen recipe with 2 epochs
    for r in results:
        assert 0 <= r["best_val"] <= 1 and len(r["epoch_seconds"]) == r["recipe"]["epochs"] and r["seconds"] > 0
    trainable = {r["recipe"]["name"]: r["trainable"] for r in results}
    assert trainable["last stage"] < trainable["notes"] == trainable["discriminative"]
    assert len(list(out.glob("seed-*/test.json"))) == 2 and len(list(out.glob("seed-*/*/test.json"))) == 2
    text = (tmp_path / "r.md").read_text()
    assert "| notes | every layer but BatchNorm; one rate 0.0001; StepLR(4, 0.1); 1 epoch |" in text
    assert "**chosen: " in text and "Test (`test/`, read once, after the choice)" in text
    assert "What each choice bought" in text and "side by side" in text

    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "): training" not in again.stdout and "stage 1 best val" not in again.stdout  # everything was loaded
    chosen = next(line for line in text.splitlines() if line.startswith("- **chosen: "))
    assert chosen in again.stdout

    # the recipes' optimizers, from the run's stage-1 checkpoint: groups, rates, what trains, the warm-up
    model = build_model(MODEL, 12, pretrained=False, context=context)
    optimizer, scheduler = recipe_optimizer(model, out / "seed-0" / "stage1.pt",
                                            Recipe("x", depth="last stage", head_lr=1e-3, schedule="warm-up",
                                                   warmup_epochs=1, epochs=3), steps_per_epoch=10)
    head, backbone = optimizer.param_groups
    assert len(head["params"]) == 2 and optimizer.state[head["params"][0]]["step"] > 0  # stage 1's Adam state
    assert not model.conv_stem.weight.requires_grad and model.conv_head.weight.requires_grad
    assert not any(p.requires_grad for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)
                   for p in m.parameters())
    rates = []
    for _ in range(30):
        rates.append((optimizer.param_groups[0]["lr"], optimizer.param_groups[1]["lr"]))
        optimizer.step()
        scheduler.step()
    assert rates[0][1] < rates[5][1] < rates[9][1] == pytest.approx(1e-4) and rates[29][1] < 1e-5
    assert all(h == pytest.approx(10 * b) for h, b in rates)
