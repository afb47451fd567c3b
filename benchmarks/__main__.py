"""``python -m benchmarks``: the notes' training loop and the course's, side by side, on this machine.

For each data set (the synthetic default, and ``../shared/data/flowers102-small`` when it
is there) it measures, in one run:

- the data pipeline: decoding, resizing and the rest of the transform per image, separately;
- the model's ceiling: forward + backward images/s on random tensors already on the device;
- **stage 1** (frozen backbone, ``--stage1-epochs`` epochs, 10 as in the notes): the notes'
  ``train_model`` on images against :mod:`course_utils.transfer.features` (one backbone pass, then the
  head on cached features), from a cold cache and again from the warm one;
- **stage 2** (every layer trains, ``--stage2-epochs`` epochs): ``train_model`` against
  the course's stage 2 (:func:`course_utils.transfer.stages.train_stage2`, ``fit`` under the run context);

and prints wall time, images/s, peak memory, the fraction of time spent waiting for data,
the best validation accuracy of each side, and the ratios against the targets.

Examples::

    python -m benchmarks                          # both data sets, CPU-sized defaults
    python -m benchmarks --data synthetic --views 3
    python -m benchmarks --image-size 224 --compile   # on a CUDA GPU
    python -m benchmarks --quick                  # a smoke run of a few seconds
    python -m benchmarks --markdown benchmarks/RESULTS.md   # append the tables there
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch

from benchmarks.measure import load_average, machine_description, training_ceiling
from benchmarks.sides import (
    BenchData,
    Config,
    SideResult,
    baseline_stage1,
    baseline_stage2,
    bench_data,
    course_datasets,
    course_stage1,
    course_stage1_views,
    course_stage2,
)

REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "flowers102-small"
"""Where the project keeps a small real subset of Flowers-102 (absent on a learner's machine)."""

TARGETS = {"stage1_ratio": 10.0, "stage2_cpu": 1.3, "stage2_gpu": 3.0}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", default=["synthetic", "real"],
                        help="'synthetic', 'real' (../shared/data/flowers102-small, skipped when absent) "
                             "or a folder in the notes' layout (default: synthetic real)")
    parser.add_argument("--stage1-only", action="store_true", help="skip stage 2 (and the ceiling)")
    parser.add_argument("--image-size", type=int, default=None,
                        help="training resolution (default: 224 on CUDA, 96 on the CPU)")
    parser.add_argument("--batch-size", type=int, default=32, help="both sides (default 32)")
    parser.add_argument("--stage1-epochs", type=int, default=10)
    parser.add_argument("--stage2-epochs", type=int, default=1)
    parser.add_argument("--stage1-lr", type=float, default=1e-3)
    parser.add_argument("--stage2-lr", type=float, default=1e-4)
    parser.add_argument("--train-per-class", type=int, default=None,
                        help="at most N training images per class (default: all synthetic, 5 real)")
    parser.add_argument("--valid-per-class", type=int, default=None,
                        help="at most N validation images per class (default: all synthetic, 3 real)")
    parser.add_argument("--synthetic-size", type=int, default=160, help="pixels of the synthetic images")
    parser.add_argument("--synthetic-per-class", type=int, nargs=2, default=[30, 10], metavar=("TRAIN", "VALID"))
    parser.add_argument("--views", type=int, default=0,
                        help="also run stage 1 on K cached augmented views (default 0: off)")
    parser.add_argument("--workers", type=int, default=None, help="DataLoader workers of the course's side "
                        "(default: course_utils.env.run_context decides)")
    parser.add_argument("--channels-last", choices=["auto", "on", "off"], default="auto",
                        help="course's side (auto: course_utils.env.run_context decides)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the course's stage-2 model")
    parser.add_argument("--train-batchnorm", action="store_true",
                        help="course's stage 2 trains BatchNorm too, as the notes do (default: the course's "
                             "recipe, BatchNorm frozen)")
    parser.add_argument("--preresize", choices=["auto", "on", "off"], default="auto",
                        help="course's stage 2 on a pre-resized copy of the images (auto: when the files are "
                             "more than 1.25 times the training resize)")
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: course_utils.env.run_context decides)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--ceiling-steps", type=int, default=None, help="timed steps of the ceiling (0: skip)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny images, few of them, 2+1 epochs")
    parser.add_argument("--markdown", type=Path, default=None, help="append the results as Markdown to this file")
    parser.add_argument("--json", type=Path, default=None, help="write every number as JSON to this file")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.quick:
        args.image_size = args.image_size or 32
        args.synthetic_size, args.synthetic_per_class = 48, [2, 1]
        args.stage1_epochs, args.stage2_epochs, args.batch_size = 2, 1, 8
        args.train_per_class, args.valid_per_class = args.train_per_class or 1, args.valid_per_class or 1
        args.ceiling_steps = 1 if args.ceiling_steps is None else args.ceiling_steps
    return args


def load_data(args: argparse.Namespace) -> list[BenchData]:
    """The data sets asked for; the real one is skipped with a message when absent."""
    from course_utils.data.synthetic_flowers import make_synthetic_flowers

    found = []
    for name in args.data:
        if name == "synthetic":
            root = make_synthetic_flowers(image_size=args.synthetic_size,
                                          per_class=(*args.synthetic_per_class, 1), progress=not args.no_progress)
            limits = (args.train_per_class, args.valid_per_class)
            found.append(bench_data(f"synthetic ({args.synthetic_size} px)", root, limits))
        else:
            root = REAL_DATA if name == "real" else Path(name)
            if not (root / "train").is_dir():
                print(f"[skip] {root}: not there (it is the project's test data, absent on a learner's machine).")
                continue
            limits = (args.train_per_class or 5, args.valid_per_class or 3)
            found.append(bench_data(root.name, root, limits))
    return found


def warm_file_cache(data: BenchData) -> None:
    """Read every file once, so that neither side pays for the first read from disk."""
    for path, _ in data.train + data.valid:
        Path(path).read_bytes()


def run_dataset(data: BenchData, cfg: Config, args: argparse.Namespace, workdir: Path) -> dict:
    """Everything for one data set; returns the numbers (and prints as it goes)."""
    from benchmarks.resized_cache import resized_copy
    from benchmarks.timing import time_image_pipeline
    from course_utils.data.transforms import eval_transform, train_transform
    from course_utils.models.build import build_model
    from course_utils.models.registry import OFFLINE_MODEL

    out: dict = {"data": data.name, "train_images": len(data.train), "valid_images": len(data.valid),
                 "classes": len(data.classes), "results": [], "load_before": load_average()}
    print(f"\n=== {data.name}: {len(data.train)} training and {len(data.valid)} validation images, "
          f"{len(data.classes)} classes, {cfg.image_size} px, batch {cfg.batch_size}, device {cfg.device} ===")
    warm_file_cache(data)
    _check_same_transforms(cfg)

    sets = course_datasets(data, train_transform(cfg.settings), eval_transform(cfg.settings))
    timing = time_image_pipeline(sets["train"])
    out["image_timing"] = asdict(timing)
    print(f"data, training transform: {timing.summary()}")

    stage2_data = data
    preresize = args.preresize == "on" or (
        args.preresize == "auto" and timing.source_shorter_side > 1.25 * cfg.settings.resize)
    if preresize and not args.stage1_only:
        started = time.perf_counter()
        copy = resized_copy(data.root, cfg.settings.resize, cache_dir=workdir / "resized", progress=cfg.progress)
        out["preresize_seconds"] = time.perf_counter() - started
        stage2_data = data.relocated(copy)
        after = time_image_pipeline(course_datasets(stage2_data, train_transform(cfg.settings),
                                                    eval_transform(cfg.settings))["train"])
        out["image_timing_preresized"] = asdict(after)
        print(f"pre-resized once to {cfg.settings.resize} px in {out['preresize_seconds']:.1f} s; now: "
              f"{after.summary()}")
    else:
        why = "off" if args.preresize == "off" else (
            f"files' shorter side {timing.source_shorter_side} px is not larger than the resize "
            f"{cfg.settings.resize} px by 25%: decoding them is already cheap")
        print(f"pre-resized cache: not used ({why})")
    out["preresized"] = bool(preresize and not args.stage1_only)

    steps = args.ceiling_steps if args.ceiling_steps is not None else (20 if cfg.device.type == "cuda" else 3)
    if not args.stage1_only and steps > 0:
        model = build_model(OFFLINE_MODEL, len(data.classes), feature_extract=False, context=cfg.context)
        cl, dtype = cfg.context.channels_last, cfg.context.amp_dtype
        settings = [(cl, dtype)]
        if (cl, dtype) != (False, None):
            settings.append((False, None))  # what the notes' loop could reach at best
        out["ceiling"] = []
        for channels_last, dtype in settings:
            ceiling = training_ceiling(model, batch_size=cfg.batch_size, image_size=cfg.image_size,
                                       num_classes=len(data.classes), device=cfg.device,
                                       channels_last=channels_last, dtype=dtype, steps=steps,
                                       warmup=5 if cfg.device.type == "cuda" else 1)
            out["ceiling"].append(asdict(ceiling))
            print(f"ceiling (random tensors, forward+backward+step, {ceiling.setting}): "
                  f"{ceiling.images_per_second:.1f} images/s")
        del model

    results: list[SideResult] = []
    base1, base_state = baseline_stage1(data, cfg, workdir)
    _print_side(base1, results)
    cache = workdir / "features" / data.root.name
    cold, course_state = course_stage1(data, cfg, workdir, cache, check=True)
    _print_side(cold, results)
    warm, _ = course_stage1(data, cfg, workdir, cache, label="course, features cached")
    _print_side(warm, results)
    if args.views:
        _print_side(course_stage1_views(data, cfg, workdir, cache), results)
    if not args.stage1_only:
        _print_side(baseline_stage2(data, cfg, workdir, base_state), results)
        _print_side(course_stage2(stage2_data, cfg, workdir, course_state), results)
    out["results"] = [asdict(r) | {"images_per_second": r.images_per_second,
                                   "train_images_per_second": r.train_images_per_second,
                                   "waiting_fraction": r.waiting_fraction} for r in results]
    out["load_after"] = load_average()
    out["verdicts"] = verdicts(results, len(data.valid), cfg, out.get("ceiling", []))
    print()
    for line in out["verdicts"]:
        print(line)
    return out


def _check_same_transforms(cfg: Config) -> None:
    """Both sides must transform images identically, or the comparison means nothing."""
    from benchmarks.baseline import notes_transforms
    from course_utils.data.transforms import eval_transform, train_transform

    notes = notes_transforms(cfg.image_size, cfg.settings.mean, cfg.settings.std)
    ours = {"train": train_transform(cfg.settings), "valid": eval_transform(cfg.settings)}
    for split in ("train", "valid"):
        if repr(notes[split]).replace("[", "(").replace("]", ")") != repr(ours[split]).replace("[", "(").replace("]", ")"):
            raise RuntimeError(f"The notes' {split} transform and course_utils.data.transforms differ:\n"
                               f"{notes[split]}\n{ours[split]}")


def _print_side(result: SideResult, results: list[SideResult]) -> None:
    results.append(result)
    print(f"{result.stage} | {result.side:<26} {result.seconds:8.1f} s  {result.images_per_second:7.1f} images/s  "
          f"best val acc {result.val_acc:.3f}  waiting for data {100 * result.waiting_fraction:4.1f}%  "
          f"peak {_mib(result.peak_host)} MiB{_cuda(result)}  ({result.detail})")


def _mib(n: int) -> str:
    return f"{n / 2**20:,.0f}"


def _number(value: float) -> str:
    """One decimal, or a dash for a phase that did not happen."""
    return f"{value:.1f}" if value else "-"


def _cuda(result: SideResult) -> str:
    return f", CUDA {_mib(result.peak_cuda)} MiB" if result.peak_cuda else ""


def _noise(p1: float, p2: float, n: int) -> float:
    """Two standard errors of the difference of two accuracies measured on ``n`` images each."""
    return 2 * math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / max(n, 1))


def _accuracy_verdict(stage: str, notes: SideResult, course: SideResult, n_valid: int) -> str:
    """Same accuracy within noise (two standard errors of the difference), or which side is better."""
    noise, difference = _noise(notes.val_acc, course.val_acc, n_valid), course.val_acc - notes.val_acc
    verdict = ("PASS", "same within noise") if abs(difference) <= noise else \
        ("PASS", "the course's is better, beyond noise") if difference > 0 else ("MISS", "the course's is worse")
    return (f"[{verdict[0]}] {stage} best validation accuracy: notes {notes.val_acc:.3f}, course {course.val_acc:.3f}: "
            f"{verdict[1]} (difference {difference:+.3f}; noise, 2 standard errors on {n_valid} images: "
            f"+-{noise:.3f})")


def verdicts(results: list[SideResult], n_valid: int, cfg: Config, ceilings: list[dict] | None = None) -> list[str]:
    """The ratios, each against its target."""
    by = {(r.stage, r.side): r for r in results}
    lines = []
    mark = lambda ok: "PASS" if ok else "MISS"  # noqa: E731
    b1, c1, w1 = by.get(("stage 1", "notes loop")), by.get(("stage 1", "course")), \
        by.get(("stage 1", "course, features cached"))
    if b1 and c1:
        ratio = b1.seconds / c1.seconds
        epoch = b1.seconds / cfg.stage1_epochs
        lines.append(f"[{mark(ratio >= TARGETS['stage1_ratio'])}] stage 1: {ratio:.1f}x less wall time than the "
                     f"notes' loop (target >= {TARGETS['stage1_ratio']:.0f}x)")
        lines.append(f"[{mark(c1.seconds < epoch)}] stage 1: the course's whole stage 1 ({c1.seconds:.1f} s) "
                     f"vs one epoch of the notes' loop ({epoch:.1f} s)")
        if w1:
            lines.append(f"[info] stage 1 with the features already cached: {w1.seconds:.2f} s "
                         f"({b1.seconds / w1.seconds:.0f}x less than the notes' loop)")
        lines.append(_accuracy_verdict("stage 1", b1, c1, n_valid))
    b2, c2 = by.get(("stage 2", "notes loop")), by.get(("stage 2", "course"))
    if b2 and c2:
        target = TARGETS["stage2_gpu"] if cfg.device.type == "cuda" else TARGETS["stage2_cpu"]
        ratio = c2.images_per_second / b2.images_per_second
        train_ratio = c2.train_images_per_second / max(b2.train_images_per_second, 1e-9)
        lines.append(f"[{mark(ratio >= target)}] stage 2: {ratio:.2f}x the notes' images/s over the whole epoch "
                     f"(training phase alone: {train_ratio:.2f}x; target >= {target}x on {cfg.device.type})")
        lines.append(_accuracy_verdict("stage 2", b2, c2, n_valid))
        for ceiling in ceilings or []:
            best = ceiling["images_per_second"]
            lines.append(f"[info] stage 2 training phase against the ceiling ({ceiling['setting']}, {best:.1f} images/s): "
                         f"course {100 * c2.train_images_per_second / best:.0f}%, "
                         f"notes {100 * b2.train_images_per_second / best:.0f}%")
    return lines


def markdown(report: dict) -> str:
    """The run as Markdown: a header with the machine, then one table per data set."""
    m = report["machine"]
    lines = [f"### {m['date']}: {m['device']}, {m['cpu']}", "",
             f"torch {m['torch']}, Python {m['python']}; load average at the start {m['load average (1/5/15 min)']}; "
             f"command `{report['command']}`", ""]
    for data in report["datasets"]:
        lines += [f"**{data['data']}**: {data['train_images']} training + {data['valid_images']} validation images, "
                  f"{data['classes']} classes; load average {data['load_before']:.1f} before, "
                  f"{data['load_after']:.1f} after.", ""]
        t = data["image_timing"]
        lines.append(f"Data per image (training transform): decode {t['decode_ms']:.2f} ms, resize "
                     f"{t['resize_ms']:.2f} ms, whole transform {t['transform_ms']:.2f} ms; files' shorter side "
                     f"{t['source_shorter_side']} px; pre-resized cache "
                     + ("used" if data["preresized"] else "not used") + ".")
        for c in data.get("ceiling", []):
            lines.append(f"Ceiling (random tensors, forward+backward+step, {c['setting']}): "
                         f"{c['images_per_second']:.1f} images/s.")
        lines += ["", "| stage | side | wall s | images/s | train images/s | best val acc | waiting for data "
                      "| peak host MiB | peak CUDA MiB | how |",
                  "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
        for r in data["results"]:
            lines.append(
                f"| {r['stage']} | {r['side']} | {r['seconds']:.1f} | {r['images_per_second']:.1f} | "
                f"{_number(r['train_images_per_second'])} | {r['val_acc']:.3f} | {100 * r['waiting_fraction']:.0f}% | "
                f"{_mib(r['peak_host'])} | {_mib(r['peak_cuda']) if r['peak_cuda'] else '-'} | {r['detail']} |")
        lines += [""] + [f"- {v}" for v in data["verdicts"]] + [""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from course_utils.env import run_context

    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    context = run_context(device=args.device, num_workers=args.workers,
                          channels_last={"auto": None, "on": True, "off": False}[args.channels_last])
    if args.no_progress:
        context = dataclasses.replace(context, progress="off")
    device = context.device
    cfg = Config(
        image_size=args.image_size or (224 if device.type == "cuda" else 96),
        batch_size=args.batch_size, stage1_epochs=args.stage1_epochs, stage2_epochs=args.stage2_epochs,
        stage1_lr=args.stage1_lr, stage2_lr=args.stage2_lr, views=args.views, compile=args.compile,
        train_batchnorm=args.train_batchnorm, preresize=args.preresize, context=context,
        progress=not args.no_progress,
    )
    machine = machine_description(device)
    print("Benchmark: the notes' train_model loop against the course's training path")
    for key, value in machine.items():
        print(f"  {key}: {value}")
    report = {"machine": machine, "command": "python -m benchmarks " + " ".join(argv if argv is not None
                                                                               else sys.argv[1:]),
              "config": {k: str(v) for k, v in asdict(cfg).items()}, "datasets": []}
    datasets = load_data(args)
    if not datasets:
        print("No data set to run on.")
        return 1
    with tempfile.TemporaryDirectory(prefix="course-benchmark-") as tmp:
        for data in datasets:
            report["datasets"].append(run_dataset(data, cfg, args, Path(tmp)))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str) + "\n")
    if args.markdown:
        with open(args.markdown, "a") as file:
            file.write("\n" + markdown(report))
        print(f"\nAppended the results to {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
